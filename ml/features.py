"""Point-in-time customer features, labels and lifetimes summaries from the warehouse's order lines.

Everything here takes a ``cutoff``: features see only purchases strictly before it, labels only
purchases in the horizon from it on. Nothing reads files or the clock, so a rebuild on the same
marts gives the same frames.
"""

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

ORDER_LINE_COLUMNS = ("customer_id", "order_id", "product_id", "ordered_at", "quantity",
                      "line_amount", "is_cancellation")
# fct_customer_activity_days: the event log summed per customer and day
EVENT_COLUMNS = ("customer_id", "activity_date", "views", "carts", "sessions_started",
                 "last_event_at")
PRODUCT_COLUMNS = ("product_id", "description", "category")
# Seasonal (year-end gift and decoration) goods, matched in a product's description or category:
# customers who stock them come back for the year-end peak whatever their recent rhythm.
SEASONAL_PRODUCT_PATTERN = (r"CHRISTMAS|XMAS|ADVENT|SANTA|REINDEER|NATIVITY|BAUBLE|SNOWFLAKE"
                            r"|HOLLY|MISTLETOE|GINGERBREAD|NOEL|HALLOWEEN|EASTER")
DAY = pd.Timedelta(days=1)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], frame_name: str) -> None:
    """Raise a ValueError naming the frame and every column it lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{frame_name} lacks column(s) {missing}; it has {list(frame.columns)}. Build it from "
            f"the warehouse mart of the same name (see the ML contract) or rename the columns.")


def default_cutoff(order_lines: pd.DataFrame, horizon_days: int) -> pd.Timestamp:
    """The evaluation cutoff: ``horizon_days`` before the last order, so labels have a full horizon."""
    require_columns(order_lines, ["ordered_at"], "order_lines")
    return pd.Timestamp(order_lines["ordered_at"].max()) - pd.Timedelta(days=horizon_days)


def _timestamp_ns(value: pd.Timestamp) -> int:
    return int(pd.Timestamp(value).as_unit("ns").value)


class OrderHistory:
    """Order lines prepared once for features, labels and summaries at any number of cutoffs.

    Building it factorizes the string ids to integer codes (customers in sorted id order),
    aggregates lines to orders once, and keeps the purchase lines as time-sorted numpy arrays,
    so each cutoff's lines are a prefix found by binary search and its line features a few
    integer-keyed sums instead of groupbys on string ids over every line. It holds no string
    column of the lines: ~32 bytes a purchase line, plus 16 per distinct (customer, product)
    pair. Float totals are pandas' compensated sums, as a groupby on the string ids gives, so the
    features equal the frame-based ones to the last bit. ``customer_features``,
    ``churn_labels`` and ``holdout_revenue`` accept it in place of the order lines (build it
    once, e.g. with ``order_histories``, and pass it when computing several cutoffs), and it
    remembers the features of each (cutoff, events, products) it has computed.
    """

    def __init__(self, order_lines: pd.DataFrame, product_counts: bool = False) -> None:
        self._build(_LineCodes([order_lines]), None, product_counts)

    def _build(self, codes: "_LineCodes", rows: np.ndarray | None,
               product_counts: bool = False) -> None:
        """Take the lines where ``rows`` (a boolean mask; all when None) of ``codes``.

        Codes stay those of ``codes`` (shared by the sources of one frame); one array at a time
        is gathered, so the peak is a few arrays of the source's lines, not a copy of them all.
        """
        at = codes.at if rows is None else codes.at[rows]
        at = at[at != np.iinfo(np.int64).min]  # NaT
        self._unit = codes.unit
        self.first_ordered_at = self._timestamp(at.min()) if len(at) else pd.NaT
        self.last_ordered_at = self._timestamp(at.max()) if len(at) else pd.NaT
        del at
        keep = codes.customer >= 0
        if rows is not None:
            keep &= rows
        everything = bool(keep.all())

        def take(values: np.ndarray) -> np.ndarray:
            return values if everything else values[keep]

        self.customers = pd.Index(codes.customers, name="customer_id")
        self.product_ids = codes.product_ids
        self.order_ids = codes.order_ids
        customer, order = take(codes.customer), take(codes.order)
        self.customer_count = int(np.count_nonzero(np.bincount(customer,
                                                               minlength=len(self.customers))))
        self.orders = self._aggregate_orders(customer, order, take(codes.at),
                                             take(codes.amount), take(codes.quantity),
                                             take(codes.cancellation), len(self.order_ids),
                                             self._unit)
        if product_counts:
            pair = order.astype(np.int64) * len(self.product_ids) + take(codes.product)
            distinct = pair[~pd.Series(pair).duplicated().to_numpy()] // len(self.product_ids)
            self.orders["product_count"] = np.bincount(
                distinct, minlength=len(self.order_ids))[self.orders["order_id"].to_numpy()]
            del pair, distinct
        del customer, order
        # Purchase lines sorted by time: the lines before any cutoff are a prefix.
        purchase = keep & ~codes.cancellation
        keep = None  # freed: take() is not used below
        line_at = codes.at[purchase]
        by_time = np.argsort(line_at, kind="stable")
        self._line_at = line_at[by_time]
        del line_at
        self._line_customer = codes.customer[purchase][by_time]
        self._line_product = codes.product[purchase][by_time]
        self._line_quantity = codes.quantity[purchase][by_time]
        self._line_amount = codes.amount[purchase][by_time]
        del purchase, by_time
        # Each (customer, product) pair's first purchase: distinct products and buyers as of
        # any cutoff are the pairs first bought before it.
        pair = self._line_customer.astype(np.int64) * len(self.product_ids) + self._line_product
        first = np.flatnonzero(~pd.Series(pair).duplicated().to_numpy())
        del pair
        self._pair_customer = self._line_customer[first]
        self._pair_product = self._line_product[first]
        self._pair_at = self._line_at[first]
        self._features: dict = {}
        self._events: dict = {}

    def _timestamp(self, ticks: int) -> pd.Timestamp:
        return pd.Timestamp(np.datetime64(int(ticks), self._unit))

    def _ticks(self, value: pd.Timestamp) -> int:
        """``value`` in the lines' time unit, rounded up: a line is before ``value`` exactly
        when its ``ordered_at`` ticks are below this."""
        nanoseconds_per_tick = int(np.timedelta64(1, self._unit) // np.timedelta64(1, "ns"))
        return -(-_timestamp_ns(value) // nanoseconds_per_tick)

    @staticmethod
    def _aggregate_orders(customer, order, at, amount, quantity, cancellation, order_count,
                          unit) -> pd.DataFrame:
        """One row per order, sorted by customer, time and order; ``customer_id`` and
        ``order_id`` are codes, the customer that of the order's first line."""
        lines = np.bincount(order, minlength=order_count)
        first = np.flatnonzero(~pd.Series(order).duplicated().to_numpy())
        first_customer = np.zeros(order_count, dtype=customer.dtype)
        first_customer[order[first]] = customer[first]
        earliest = np.full(order_count, np.iinfo(np.int64).max)
        np.minimum.at(earliest, order, at)
        orders = pd.DataFrame({
            "order_id": np.arange(order_count, dtype=np.int32),
            "customer_id": first_customer,
            "ordered_at": earliest,
            "is_cancellation": np.bincount(order, weights=cancellation,
                                           minlength=order_count) > 0,
            "net_amount": _group_sum(order, amount, order_count),
            "line_count": lines,
            "units": np.bincount(order, weights=quantity, minlength=order_count),
        })
        orders = orders[lines > 0]  # orders of the other sources sharing the codes
        orders = orders.iloc[np.lexsort((orders["order_id"].to_numpy(),
                                         orders["ordered_at"].to_numpy(),
                                         orders["customer_id"].to_numpy()))]
        orders["ordered_at"] = orders["ordered_at"].to_numpy().view(f"datetime64[{unit}]")
        return orders.reset_index(drop=True)

    def customer_orders(self) -> pd.DataFrame:
        """``customer_orders``' frame: the orders with their string ids (and product counts if
        the history was built with them)."""
        orders = self.orders.copy()
        orders["customer_id"] = self.customers.take(orders["customer_id"]).to_numpy()
        orders["order_id"] = self.order_ids.take(orders["order_id"])
        columns = ["order_id", "customer_id", "ordered_at", "is_cancellation", "net_amount",
                   "line_count", "product_count", "units"]
        orders = orders[[c for c in columns if c in orders.columns]]
        return orders.sort_values(["customer_id", "ordered_at", "order_id"], ignore_index=True)

    def codes(self, customers: pd.Index) -> np.ndarray:
        """Integer codes of customer ids (-1 for a customer with no order line)."""
        return self.customers.get_indexer(customers)

    def features(self, cutoff: pd.Timestamp, events: pd.DataFrame | None = None,
                 products: pd.DataFrame | None = None) -> pd.DataFrame:
        """``customer_features`` at ``cutoff``, computed once per (cutoff, events, products)."""
        cutoff = pd.Timestamp(cutoff)
        key = (cutoff, id(events), id(products))
        if key not in self._features:
            self._features[key] = (self._compute_features(cutoff, events, products),
                                   events, products)  # held so the ids stay theirs
        return self._features[key][0].copy()

    def _line_features(self, cutoff: pd.Timestamp, codes: np.ndarray,
                       products: pd.DataFrame | None) -> dict[str, np.ndarray]:
        n = len(self.customers)
        count = np.searchsorted(self._line_at, self._ticks(cutoff), side="left")
        customer = self._line_customer[:count]
        product = self._line_product[:count]
        amount = self._line_amount[:count]
        lines = np.bincount(customer, minlength=n).astype("float64")
        amount_sum = _group_sum(customer, amount, n)
        pairs = np.searchsorted(self._pair_at, self._ticks(cutoff), side="left")
        distinct = np.bincount(self._pair_customer[:pairs], minlength=n)
        buyers = np.bincount(self._pair_product[:pairs], minlength=len(self.product_ids))
        with np.errstate(divide="ignore", invalid="ignore"):
            # Shares of the customers with a purchase line before the cutoff.
            log_share = np.log(buyers / max(np.count_nonzero(lines), 1))
            columns = {
                "distinct_products": distinct.astype("float64"),
                "avg_quantity_per_line": np.bincount(
                    customer, weights=self._line_quantity[:count], minlength=n) / lines,
                "avg_unit_price": amount_sum / np.bincount(
                    customer, weights=self._line_quantity[:count], minlength=n),
                "log_product_popularity": _group_sum(customer, log_share[product], n) / lines,
            }
            if products is not None:
                seasonal = _seasonal_products(products, self.product_ids)
                columns["seasonal_spend_share"] = _group_sum(
                    customer, np.where(seasonal[product], amount, 0.0), n) / amount_sum
        return {name: np.where(lines[codes] > 0, values[codes], np.nan)
                for name, values in columns.items()}

    def _prepared_events(self, activity: pd.DataFrame) -> dict[str, np.ndarray]:
        if id(activity) not in self._events:
            require_columns(activity, EVENT_COLUMNS, "event activity")
            codes = self.codes(pd.Index(activity["customer_id"]))
            keep = np.flatnonzero(codes >= 0)  # rows of customers who never ordered join nothing
            day = activity["activity_date"].to_numpy(dtype="datetime64[ns]").view("int64")[keep]
            order = keep[np.argsort(day, kind="stable")]

            def values(name: str) -> np.ndarray:
                return pd.to_numeric(activity[name]).to_numpy(dtype="float64",
                                                              na_value=np.nan)[order]

            prepared = {
                "customer": codes[order].astype(np.int32),
                "day": np.sort(day, kind="stable"),
                "views": values("views"), "carts": values("carts"),
                "sessions": values("sessions_started"),
                "last_event_at": activity["last_event_at"].to_numpy(
                    dtype="datetime64[ns]")[order],
            }
            self._events[id(activity)] = (prepared, activity)
        return self._events[id(activity)][0]

    def _event_features(self, activity: pd.DataFrame, cutoff: pd.Timestamp,
                        codes: np.ndarray) -> dict[str, np.ndarray]:
        """``_event_features`` for the customers ``codes``; NaN where a customer has no rows."""
        prepared = self._prepared_events(activity)
        n = len(self.customers)
        first_day_after = pd.Timestamp(cutoff).floor("D")
        seen = np.searchsorted(prepared["day"], _timestamp_ns(first_day_after), side="left")
        recent = np.searchsorted(prepared["day"],
                                 _timestamp_ns(first_day_after - pd.Timedelta(days=30)),
                                 side="left")
        customer = prepared["customer"]
        rows = np.bincount(customer[:seen], minlength=n)

        def total(name: str, start: int = 0) -> np.ndarray:
            summed = np.bincount(customer[start:seen], weights=np.nan_to_num(
                prepared[name][start:seen]), minlength=n)
            return summed

        last = pd.Series(prepared["last_event_at"][:seen]).groupby(customer[:seen]).max()
        last_event = np.full(n, np.nan)
        last_event[last.index.to_numpy()] = (cutoff - last) / DAY
        has_rows = rows[codes] > 0
        columns = {"views_last_30d": total("views", recent), "carts_last_30d": total("carts", recent),
                   "sessions": total("sessions"), "days_since_last_event": last_event}
        return {name: np.where(has_rows, values[codes], np.nan)
                for name, values in columns.items()}

    def _compute_features(self, cutoff: pd.Timestamp, events: pd.DataFrame | None,
                          products: pd.DataFrame | None) -> pd.DataFrame:
        orders = self.orders[self.orders["ordered_at"] < cutoff]
        purchases = purchase_orders(orders)
        cancellations = orders[orders["is_cancellation"]]
        grouped = purchases.groupby("customer_id")
        last_order = grouped["ordered_at"].max()
        features = pd.DataFrame({
            "orders": grouped.size(),
            "revenue": grouped["net_amount"].sum(),
            "avg_order_value": grouped["net_amount"].mean(),
            "max_order_value": grouped["net_amount"].max(),
            "avg_lines_per_order": grouped["line_count"].mean(),
            "avg_units_per_order": grouped["units"].mean(),
            "days_since_last_order": (cutoff - last_order) / DAY,
            "days_since_first_order": (cutoff - grouped["ordered_at"].min()) / DAY,
        })
        codes = features.index.to_numpy()
        for name, values in self._line_features(cutoff, codes, products).items():
            features[name] = values
        features = features.join(lifetimes_summary(orders, cutoff))
        for days in (30, 90, 180):
            features = features.join(_window_counts(purchases, cutoff, days))
        features = features.join(_gap_features(purchases)).join(_calendar_features(purchases))
        features = features.join(_decayed_activity(purchases, cutoff))
        returns = cancellations.groupby("customer_id").agg(
            return_orders=("order_id", "size"), returned_amount=("net_amount", "sum"))
        features = features.join(returns)
        count_columns = [c for c in features.columns
                         if c.startswith(("orders_last", "revenue_last", "return"))]
        features[count_columns] = features[count_columns].fillna(0.0)
        features["returned_amount"] = features["returned_amount"].abs()
        features = _add_ratios(features)
        if events is not None and not events.empty:
            for name, values in self._event_features(events, cutoff, codes).items():
                features[name] = values
            event_columns = ["views_last_30d", "carts_last_30d", "sessions"]
            features[event_columns] = features[event_columns].fillna(0.0)
        features.index = self.customers.take(codes)
        features.index.name = "customer_id"
        return features.astype("float64")

    def holdout(self, customers: pd.Index, cutoff: pd.Timestamp, horizon_days: int,
                count_orders: bool) -> np.ndarray:
        cutoff = pd.Timestamp(cutoff)
        orders = purchase_orders(self.orders)
        after = orders[(orders["ordered_at"] >= cutoff)
                       & (orders["ordered_at"] <= cutoff + pd.Timedelta(days=horizon_days))]
        customer = after["customer_id"].to_numpy()
        per_customer = (np.bincount(customer, minlength=len(self.customers)) if count_orders
                        else _group_sum(customer, after["net_amount"].to_numpy(),
                                        len(self.customers)))
        codes = self.codes(customers)
        return np.where(codes >= 0, per_customer[codes], 0.0).astype("float64")


def _group_sum(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Per code 0..size-1, the sum of its ``values`` (0 where none): pandas' compensated
    groupby sum, so totals match a groupby on the string ids to the last bit (the trees'
    bin edges, and so the fitted models, can move with the last bit of a feature)."""
    sums = pd.Series(values).groupby(codes, sort=False).sum()
    total = np.zeros(size)
    total[sums.index.to_numpy()] = sums.to_numpy()
    return total


class _LineCodes:
    """The order lines' columns as numpy arrays, string ids factorized to int32 codes (customers
    in sorted id order; -1 for a guest line), from the lines in one frame or in consecutive
    batches: the same arrays either way, and from batches only one batch's strings are held."""

    def __init__(self, batches: Iterable[pd.DataFrame]) -> None:
        customers = _BatchFactorizer(sort=True)
        orders = _BatchFactorizer()
        products = _BatchFactorizer(use_na_sentinel=False)
        at, amount, quantity, cancellation = [], [], [], []
        self.unit = "ns"  # of no line at all
        for number, lines in enumerate(batches):
            require_columns(lines, ORDER_LINE_COLUMNS, "order_lines")
            customers.add(lines["customer_id"])
            orders.add(lines["order_id"])
            products.add(lines["product_id"])
            ordered_at = lines["ordered_at"]
            if not (isinstance(ordered_at.dtype, np.dtype) and ordered_at.dtype.kind == "M"):
                ordered_at = pd.to_datetime(ordered_at)
            if number == 0:
                self.unit = np.datetime_data(ordered_at.dtype)[0]
            at.append(ordered_at.to_numpy().astype(f"datetime64[{self.unit}]", copy=False)
                      .view("int64"))
            amount.append(lines["line_amount"].to_numpy(dtype="float64", na_value=np.nan))
            quantity.append(lines["quantity"].to_numpy(dtype="float64", na_value=np.nan))
            cancellation.append(lines["is_cancellation"].to_numpy(dtype=bool))
        self.customer, self.customers = customers.result()
        self.order, self.order_ids = orders.result()
        self.product, self.product_ids = products.result()
        self.at = _concatenate(at, np.int64)
        self.amount = _concatenate(amount, np.float64)
        self.quantity = _concatenate(quantity, np.float64)
        self.cancellation = _concatenate(cancellation, bool)


class _BatchFactorizer:
    """``pd.factorize`` of a column that comes in batches: the codes and uniques that factorizing
    the batches' concatenation gives, while holding only the codes of the batches seen."""

    _MISSING = object()  # the key of a missing value, which is not equal to itself

    def __init__(self, sort: bool = False, use_na_sentinel: bool = True) -> None:
        self._sort = sort
        self._use_na_sentinel = use_na_sentinel
        self._code_of: dict = {}  # unique -> code, in order of first appearance
        self._dtype = None
        self._codes: list[np.ndarray] = []

    def add(self, values: pd.Series) -> None:
        codes, uniques = pd.factorize(values, use_na_sentinel=self._use_na_sentinel)
        self._dtype = uniques.dtype
        # A batch's uniques are few beside its rows: only they meet Python's dict. The last
        # entry stays -1, the code of a missing value under the sentinel, indexed by its -1.
        global_codes = np.full(len(uniques) + 1, -1, dtype=np.int32)
        for position, value in enumerate(uniques.tolist()):
            key = self._MISSING if value != value else value
            global_codes[position] = self._code_of.setdefault(key, len(self._code_of))
        self._codes.append(global_codes[codes])

    def result(self) -> tuple[np.ndarray, pd.Index]:
        codes = _concatenate(self._codes, np.int32)
        uniques = pd.Index([np.nan if key is self._MISSING else key for key in self._code_of],
                           dtype=self._dtype)
        if self._sort:
            order = uniques.argsort()
            rank = np.empty(len(order), dtype=np.int32)
            rank[order] = np.arange(len(order), dtype=np.int32)
            codes = np.where(codes >= 0, rank[codes], np.int32(-1))
            uniques = uniques.take(order)
        return codes, uniques


def _concatenate(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    """The parts as one array (the part itself when there is one: a whole frame's column stays a
    view), emptying the list so the parts are freed once copied."""
    if len(parts) == 1:
        whole = parts[0]
    else:
        whole = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    parts.clear()
    return whole


def order_histories(order_lines: pd.DataFrame, by: str = "source_system"
                    ) -> dict[str, OrderHistory]:
    """One OrderHistory per value of ``by`` (each shop source), from one factorization of the
    string ids and without copying the lines per source."""
    require_columns(order_lines, [*ORDER_LINE_COLUMNS, by], "order_lines")
    codes = _LineCodes([order_lines])
    groups, names = pd.factorize(order_lines[by])
    histories = {}
    for number, name in enumerate(names):
        history = OrderHistory.__new__(OrderHistory)
        history._build(codes, groups == number)
        histories[name] = history
    return histories


def order_history_of_batches(batches: Iterable[pd.DataFrame]) -> OrderHistory | None:
    """The OrderHistory of order lines that come in consecutive frames (a mart streamed from the
    warehouse), equal to that of their concatenation; None when they hold no line. The lines'
    string ids are never held whole: at 42M events one source's 22.6M lines are 3 GB in pandas,
    more than the history built from them."""
    codes = _LineCodes(batches)
    if not len(codes.at):
        return None
    history = OrderHistory.__new__(OrderHistory)
    history._build(codes, None)
    return history


def order_history(order_lines: "pd.DataFrame | OrderHistory") -> OrderHistory:
    """``order_lines`` prepared as an OrderHistory (returned as is if it already is one)."""
    return order_lines if isinstance(order_lines, OrderHistory) else OrderHistory(order_lines)


def _seasonal_products(products: pd.DataFrame, product_ids: pd.Index) -> np.ndarray:
    """Per product code, whether it is a seasonal good (its description or category match)."""
    require_columns(products, PRODUCT_COLUMNS, "products")
    text = (products["description"].fillna("") + " " + products["category"].fillna("")
            ).astype(str)
    seasonal = products.loc[text.str.contains(SEASONAL_PRODUCT_PATTERN, case=False, regex=True),
                            "product_id"]
    return np.asarray(pd.Index(product_ids).isin(seasonal), dtype=bool)


def customer_orders(order_lines: "pd.DataFrame | OrderHistory") -> pd.DataFrame:
    """One row per known customer's order (purchases and cancellations), with its value and breadth.

    Guest lines (no customer_id) are ignored. ``net_amount`` is negative on cancellations.
    """
    if isinstance(order_lines, OrderHistory):
        return order_lines.customer_orders()
    return OrderHistory(order_lines, product_counts=True).customer_orders()


def purchase_orders(orders: pd.DataFrame) -> pd.DataFrame:
    return orders[~orders["is_cancellation"]]


def lifetimes_summary(orders: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The (frequency, recency, T, monetary_value) summary lifetimes models fit, at ``cutoff``.

    Same convention as ``lifetimes.utils.summary_data_from_transaction_data`` with freq "D":
    purchases on one day count once, frequency counts repeat days, recency and T are in days
    from the first purchase day, monetary_value averages repeat days only (0 without repeats).
    Population: customers with at least one purchase before the cutoff.
    """
    cutoff_day = pd.Timestamp(cutoff).normalize()
    before = purchase_orders(orders)
    before = before[before["ordered_at"] < cutoff]
    days = (before.assign(day=before["ordered_at"].dt.normalize())
            .groupby(["customer_id", "day"], sort=True)["net_amount"].sum().reset_index())
    first_day = days.groupby("customer_id")["day"].transform("min")
    repeat = days[days["day"] > first_day]
    summary = days.groupby("customer_id").agg(first_day=("day", "min"), last_day=("day", "max"),
                                              purchase_days=("day", "size"))
    summary["frequency"] = (summary["purchase_days"] - 1).astype("float64")
    summary["recency"] = (summary["last_day"] - summary["first_day"]) / DAY
    summary["T"] = (cutoff_day - summary["first_day"]) / DAY
    summary["monetary_value"] = repeat.groupby("customer_id")["net_amount"].mean()
    summary["monetary_value"] = summary["monetary_value"].fillna(0.0)
    return summary[["frequency", "recency", "T", "monetary_value"]]


def _window_counts(purchases: pd.DataFrame, cutoff: pd.Timestamp, days: int) -> pd.DataFrame:
    recent = purchases[purchases["ordered_at"] >= cutoff - pd.Timedelta(days=days)]
    return recent.groupby("customer_id").agg(**{
        f"orders_last_{days}d": ("order_id", "size"),
        f"revenue_last_{days}d": ("net_amount", "sum"),
    })


def _gap_features(purchases: pd.DataFrame) -> pd.DataFrame:
    """Inter-purchase gaps in days between distinct purchase days, and their regularity."""
    days = purchases[["customer_id"]].assign(day=purchases["ordered_at"].dt.normalize())
    days = days.drop_duplicates()
    gaps = days.groupby("customer_id")["day"].diff() / DAY
    gap_frame = days.assign(gap=gaps).dropna(subset=["gap"])
    features = gap_frame.groupby("customer_id")["gap"].agg(
        gap_mean_days="mean", gap_std_days="std", gap_max_days="max", last_gap_days="last")
    # A regular buyer (low variation) who is overdue is a stronger churn sign than an erratic one.
    features["gap_cv"] = features["gap_std_days"] / features["gap_mean_days"]
    return features


DECAY_DAYS = (15, 30, 60, 120, 240)


def _decayed_activity(purchases: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Purchase days and revenue weighted by exp(-age / tau) for several time constants tau.

    Unlike totals, these do not grow with the length of the shop's history, so a model trained at
    an earlier cutoff (shorter history) reads them the same way at a later one.
    """
    days = (purchases.assign(day=purchases["ordered_at"].dt.normalize())
            .groupby(["customer_id", "day"])["net_amount"].sum().reset_index())
    age = (pd.Timestamp(cutoff).normalize() - days["day"]) / DAY
    columns = {}
    for tau in DECAY_DAYS:
        weight = np.exp(-age / tau)
        columns[f"log_decayed_days_{tau}d"] = np.log1p(weight.groupby(days["customer_id"]).sum())
        columns[f"log_decayed_revenue_{tau}d"] = np.log1p(
            (weight * days["net_amount"].clip(lower=0.0)).groupby(days["customer_id"]).sum())
    return pd.DataFrame(columns)


def _calendar_features(purchases: pd.DataFrame) -> pd.DataFrame:
    """Where in the year and the week a customer buys: seasonal buyers churn on a calendar."""
    at = purchases["ordered_at"].to_numpy(dtype="datetime64[ns]")
    months = at.astype("datetime64[M]").view("int64")  # months since 1970-01
    weekday = (at.astype("datetime64[D]").view("int64") + 3) % 7  # 1970-01-01: a Thursday
    frame = pd.DataFrame({"customer_id": purchases["customer_id"].to_numpy(),
                          "q4_share": (months % 12 >= 9).astype(float),
                          "weekend_share": (weekday >= 5).astype(float),
                          "month_count": months})
    grouped = frame.groupby("customer_id")
    return pd.DataFrame({
        "q4_order_share": grouped["q4_share"].mean(),
        "weekend_order_share": grouped["weekend_share"].mean(),
        "active_months": grouped["month_count"].nunique(),
    })


def product_popularity(lines: pd.DataFrame) -> pd.Series:
    """Per customer, the mean over their purchase lines of log(share of customers who bought the
    line's product): near 0 for a buyer of best-sellers, very negative for a buyer of niche goods.

    ``lines`` are the purchase lines before the cutoff; shares are of the customers in them, so
    the feature does not grow with the length of the history. Mainstream buyers came back more
    often and spent more on the earlier out-of-time splits of UCI Online Retail.
    """
    if lines.empty:
        return pd.Series(dtype="float64", index=pd.Index([], name="customer_id"))
    buyers = lines.groupby("product_id")["customer_id"].nunique()
    share = lines["product_id"].map(buyers) / lines["customer_id"].nunique()
    return np.log(share.astype("float64")).groupby(lines["customer_id"]).mean()


def customer_features(order_lines: "pd.DataFrame | OrderHistory", cutoff: pd.Timestamp,
                      events: pd.DataFrame | None = None,
                      products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Behaviour features per customer with a purchase before ``cutoff``, indexed by customer_id.

    Uses only rows strictly before the cutoff. Columns: lifetimes summary (frequency, recency, T,
    monetary_value), RFM-style counts and amounts, windowed activity and its trend, gaps, returns,
    basket breadth and size, calendar habits, log transforms, event-log behaviour when ``events``
    (rows of fct_customer_activity_days) is given and non-empty, and the share of spend on
    seasonal goods when ``products`` is given. ``order_lines`` may be an ``OrderHistory`` built
    once for several cutoffs.
    """
    return order_history(order_lines).features(cutoff, events, products)


def _add_ratios(features: pd.DataFrame) -> pd.DataFrame:
    """Derived features a tree or a linear model cannot easily build from raw counts."""
    tenure = features["days_since_first_order"].clip(lower=1.0)
    features["orders_per_month"] = features["orders"] / (tenure / 30.0)
    # Recency measured in the customer's own rhythm: 3 means three usual gaps overdue.
    features["recency_over_gap"] = (features["days_since_last_order"]
                                    / features["gap_mean_days"].fillna(tenure))
    # Recent activity against the customer's average rate: below 1 means slowing down.
    expected_last_90 = features["orders"] * np.minimum(90.0, tenure) / tenure
    features["trend_last_90d"] = features["orders_last_90d"] / expected_last_90
    features["return_rate"] = features["returned_amount"] / (
        features["revenue"] + features["returned_amount"]).where(lambda total: total > 0)
    features["return_rate"] = features["return_rate"].fillna(0.0)
    expected_revenue_last_90 = features["revenue"] * np.minimum(90.0, tenure) / tenure
    features["revenue_trend_last_90d"] = features["revenue_last_90d"] / expected_revenue_last_90
    # Share of the months since the first order with a purchase: steady buyers come back.
    features["active_month_share"] = features["active_months"] / np.ceil(tenure / 30.44)
    for column in ("orders", "revenue", "avg_order_value", "days_since_last_order",
                   "days_since_first_order", "distinct_products", "frequency",
                   "avg_quantity_per_line", "avg_unit_price"):
        features[f"log_{column}"] = np.log1p(features[column].clip(lower=0.0))
    features["log_recency_x_log_frequency"] = (features["log_days_since_last_order"]
                                               * features["log_orders"])
    return features


def churn_labels(order_lines: "pd.DataFrame | OrderHistory", customers: pd.Index,
                 cutoff: pd.Timestamp, horizon_days: int) -> pd.Series:
    """1 when a customer makes no purchase in [cutoff, cutoff + horizon_days], else 0."""
    revenue = holdout_revenue(order_lines, customers, cutoff, horizon_days, count_orders=True)
    return (revenue == 0).astype("int64").rename("churned")


def holdout_revenue(order_lines: "pd.DataFrame | OrderHistory", customers: pd.Index,
                    cutoff: pd.Timestamp, horizon_days: int,
                    count_orders: bool = False) -> pd.Series:
    """Net purchase revenue (or purchase count) of ``customers`` in [cutoff, cutoff + horizon]."""
    values = order_history(order_lines).holdout(customers, cutoff, horizon_days, count_orders)
    return pd.Series(values, index=customers,
                     name="holdout_orders" if count_orders else "holdout_revenue")
