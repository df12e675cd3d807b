"""Point-in-time customer features, labels and lifetimes summaries from the warehouse's order lines.

Everything here takes a ``cutoff``: features see only purchases strictly before it, labels only
purchases in the horizon from it on. Nothing reads files or the clock, so a rebuild on the same
marts gives the same frames.
"""

from collections.abc import Iterable

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


def customer_orders(order_lines: pd.DataFrame) -> pd.DataFrame:
    """One row per known customer's order (purchases and cancellations), with its value and breadth.

    Guest lines (no customer_id) are ignored. ``net_amount`` is negative on cancellations.
    """
    require_columns(order_lines, ORDER_LINE_COLUMNS, "order_lines")
    lines = order_lines[order_lines["customer_id"].notna()]
    orders = lines.groupby("order_id", sort=True).agg(
        customer_id=("customer_id", "first"),
        ordered_at=("ordered_at", "min"),
        is_cancellation=("is_cancellation", "any"),
        net_amount=("line_amount", "sum"),
        line_count=("product_id", "size"),
        product_count=("product_id", "nunique"),
        units=("quantity", "sum"),
    ).reset_index()
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"])
    return orders.sort_values(["customer_id", "ordered_at", "order_id"], ignore_index=True)


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
    month = purchases["ordered_at"].dt.month
    frame = purchases[["customer_id"]].assign(
        q4_share=month.isin([10, 11, 12]).astype(float),
        weekend_share=(purchases["ordered_at"].dt.day_of_week >= 5).astype(float),
        month_count=purchases["ordered_at"].dt.to_period("M").astype(str))
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


def _line_features(lines: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    """Wholesale-or-retail habits from purchase lines, and the share of spend on seasonal goods."""
    grouped = lines.groupby("customer_id")
    features = pd.DataFrame({
        "distinct_products": grouped["product_id"].nunique(),
        "avg_quantity_per_line": grouped["quantity"].mean(),
        "avg_unit_price": grouped["line_amount"].sum() / grouped["quantity"].sum(),
        "log_product_popularity": product_popularity(lines),
    })
    if products is not None:
        require_columns(products, PRODUCT_COLUMNS, "products")
        text = (products["description"].fillna("") + " " + products["category"].fillna("")
                ).astype(str)
        seasonal = products.loc[text.str.contains(SEASONAL_PRODUCT_PATTERN, case=False, regex=True),
                                "product_id"]
        seasonal_amount = lines["line_amount"].where(lines["product_id"].isin(seasonal), 0.0)
        features["seasonal_spend_share"] = (seasonal_amount.groupby(lines["customer_id"]).sum()
                                            / grouped["line_amount"].sum())
    return features


def _event_features(activity: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Event-log behaviour from fct_customer_activity_days, using whole days before ``cutoff``'s
    day (the rows are daily, so a cutoff inside a day leaves that day out rather than peek)."""
    require_columns(activity, EVENT_COLUMNS, "event activity")
    first_day_after = pd.Timestamp(cutoff).floor("D")
    days = pd.to_datetime(activity["activity_date"])
    seen = activity[activity["customer_id"].notna() & (days < first_day_after)]
    if seen.empty:
        return pd.DataFrame(index=pd.Index([], name="customer_id"))
    recent = days[seen.index] >= first_day_after - pd.Timedelta(days=30)
    frame = seen.assign(recent_views=seen["views"].where(recent, 0),
                        recent_carts=seen["carts"].where(recent, 0))
    grouped = frame.groupby("customer_id")
    return pd.DataFrame({
        "views_last_30d": grouped["recent_views"].sum(),
        "carts_last_30d": grouped["recent_carts"].sum(),
        "sessions": grouped["sessions_started"].sum(),
        "days_since_last_event": (cutoff - grouped["last_event_at"].max()) / DAY,
    })


def customer_features(order_lines: pd.DataFrame, cutoff: pd.Timestamp,
                      events: pd.DataFrame | None = None,
                      products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Behaviour features per customer with a purchase before ``cutoff``, indexed by customer_id.

    Uses only rows strictly before the cutoff. Columns: lifetimes summary (frequency, recency, T,
    monetary_value), RFM-style counts and amounts, windowed activity and its trend, gaps, returns,
    basket breadth and size, calendar habits, log transforms, event-log behaviour when ``events``
    (rows of fct_customer_activity_days) is given and non-empty, and the share of spend on
    seasonal goods when ``products`` is given.
    """
    cutoff = pd.Timestamp(cutoff)
    orders = customer_orders(order_lines)
    orders = orders[orders["ordered_at"] < cutoff]
    purchases = purchase_orders(orders)
    cancellations = orders[orders["is_cancellation"]]
    grouped = purchases.groupby("customer_id")
    features = pd.DataFrame({
        "orders": grouped.size(),
        "revenue": grouped["net_amount"].sum(),
        "avg_order_value": grouped["net_amount"].mean(),
        "max_order_value": grouped["net_amount"].max(),
        "avg_lines_per_order": grouped["line_count"].mean(),
        "avg_units_per_order": grouped["units"].mean(),
        "days_since_last_order": (cutoff - grouped["ordered_at"].max()) / DAY,
        "days_since_first_order": (cutoff - grouped["ordered_at"].min()) / DAY,
    })
    lines = order_lines[order_lines["customer_id"].notna() & ~order_lines["is_cancellation"]
                        & (order_lines["ordered_at"] < cutoff)]
    features = features.join(_line_features(lines, products))
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
        features = features.join(_event_features(events, cutoff))
        event_columns = ["views_last_30d", "carts_last_30d", "sessions"]
        features[event_columns] = features[event_columns].fillna(0.0)
    features.index.name = "customer_id"
    return features.sort_index().astype("float64")


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


def churn_labels(order_lines: pd.DataFrame, customers: pd.Index, cutoff: pd.Timestamp,
                 horizon_days: int) -> pd.Series:
    """1 when a customer makes no purchase in [cutoff, cutoff + horizon_days], else 0."""
    revenue = holdout_revenue(order_lines, customers, cutoff, horizon_days, count_orders=True)
    return (revenue == 0).astype("int64").rename("churned")


def holdout_revenue(order_lines: pd.DataFrame, customers: pd.Index, cutoff: pd.Timestamp,
                    horizon_days: int, count_orders: bool = False) -> pd.Series:
    """Net purchase revenue (or purchase count) of ``customers`` in [cutoff, cutoff + horizon]."""
    cutoff = pd.Timestamp(cutoff)
    orders = purchase_orders(customer_orders(order_lines))
    after = orders[(orders["ordered_at"] >= cutoff)
                   & (orders["ordered_at"] <= cutoff + pd.Timedelta(days=horizon_days))]
    per_customer = after.groupby("customer_id")["net_amount"]
    values = per_customer.size() if count_orders else per_customer.sum()
    return values.reindex(customers, fill_value=0).astype("float64").rename(
        "holdout_orders" if count_orders else "holdout_revenue")
