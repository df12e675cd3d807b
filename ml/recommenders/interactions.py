"""Implicit feedback for the recommenders: who interacted with what, how strongly, and when.

Every recommender is fitted on the same *interactions* frame, one row per customer and product:
``customer_id``, ``product_id``, ``weight`` (how strongly: the number of distinct invoices for
purchases, a confidence sum for the event log) and ``last_at`` (the latest interaction, which the
recency-aware models use).
"""

import functools
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from ml.dbt_frames import duckdb_to_pandas

INTERACTION_COLUMNS = ("customer_id", "product_id", "weight", "last_at")
NO_INTERACTIONS = ("interactions is empty: there is nothing to fit a recommender on; check that "
                   "order_lines has purchases with a customer_id.")
MISSING_IDS = "interactions has missing customer_id or product_id values."
# The columns of fct_order_lines the recommenders read (of a big shop's lines, the others are
# gigabytes in pandas for nothing)
ORDER_LINE_COLUMNS = ("customer_id", "order_id", "product_id", "ordered_at", "is_cancellation")

# Confidence of each event type in the event log: a purchase says more than a cart, a cart more
# than a view. A removal from the cart carries no positive signal.
DEFAULT_EVENT_WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 10.0}
# Where fct_customer_product_activity counts each event type.
EVENT_COUNT_COLUMNS = {"view": "views", "cart": "carts", "remove_from_cart": "removes_from_cart",
                       "purchase": "purchases"}


def object_index(ids) -> pd.Index:
    """An index of ids as Python objects. pandas 3 would make ids that are strings an index of
    its string dtype, which each lookup converts back: a new index of the 5.3M customers at 42M
    events and its first lookup took 5 s, 0.2 s as objects."""
    return pd.Index(np.asarray(ids, dtype=object), dtype=object)


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...] | list[str],
                    frame_name: str) -> None:
    """Raise a ValueError naming the frame and every missing column."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{frame_name} is missing column(s) {missing}; it has {list(frame.columns)}. "
            "Pass a frame with the warehouse contract's columns (fct_order_lines, dim_products, "
            "fct_customer_product_activity)."
        )


def purchase_lines(order_lines: pd.DataFrame, before: pd.Timestamp | None = None
                   ) -> pd.DataFrame:
    """The lines of ``order_lines`` that count as purchases (ordered before ``before``, when
    given): not guest orders (no customer id), not cancellations. Only the four columns the
    interactions group are copied: a copy of every column of a big shop's lines is gigabytes."""
    require_columns(order_lines, ORDER_LINE_COLUMNS, "order_lines")
    kept = order_lines["customer_id"].notna() & ~order_lines["is_cancellation"].astype(bool)
    if before is not None:
        kept &= order_lines["ordered_at"] < before
    return order_lines.loc[kept, ["customer_id", "product_id", "order_id", "ordered_at"]]


def purchase_interactions(order_lines: pd.DataFrame, before: pd.Timestamp | None = None
                          ) -> pd.DataFrame:
    """Interactions from ``order_lines`` (those ordered before ``before``, when given): per
    customer and product, the number of distinct invoices of :func:`purchase_lines`."""
    purchases = purchase_lines(order_lines, before)
    grouped = purchases.groupby(["customer_id", "product_id"], sort=True).agg(
        weight=("order_id", "nunique"), last_at=("ordered_at", "max"))
    interactions = grouped.reset_index()
    interactions["weight"] = interactions["weight"].astype("float64")
    return interactions


def event_interactions(activity: pd.DataFrame,
                       event_weights: dict[str, float] | None = None) -> pd.DataFrame:
    """Interactions from the event log, summed per customer, product and day in
    fct_customer_product_activity: per customer and product, the sum of event confidences.

    ``event_weights`` maps an event type to its confidence (default: view 1 < cart 3 <
    purchase 10); event types it does not list, such as remove_from_cart, are ignored.
    """
    weights = _event_weights(event_weights)
    counts = [EVENT_COUNT_COLUMNS[event_type] for event_type in weights]
    require_columns(activity, ["customer_id", "product_id", "last_event_at", *counts],
                    "event activity")
    confidence = sum((activity[EVENT_COUNT_COLUMNS[event_type]].to_numpy(dtype="float64") * weight
                      for event_type, weight in weights.items()), np.zeros(len(activity)))
    kept = ((confidence > 0) & activity["customer_id"].notna().to_numpy()
            & activity["product_id"].notna().to_numpy())
    # only the three columns grouped: a copy of the whole activity frame is gigabytes at scale
    scored = activity.loc[kept, ["customer_id", "product_id", "last_event_at"]].assign(
        weight=confidence[kept])
    grouped = scored.groupby(["customer_id", "product_id"], sort=True).agg(
        weight=("weight", "sum"), last_at=("last_event_at", "max"))
    return grouped.reset_index()


def _event_weights(event_weights: dict[str, float] | None) -> dict[str, float]:
    weights = DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights
    unknown = sorted(set(weights) - set(EVENT_COUNT_COLUMNS))
    if unknown:
        raise ValueError(f"event_weights names unknown event type(s) {unknown}; "
                         f"known: {sorted(EVENT_COUNT_COLUMNS)}")
    return weights


class EventLog:
    """A shop's fct_customer_product_activity rows, as a pandas frame or as a DuckDB relation
    left in the warehouse. On a relation DuckDB sums the interactions and only they come into
    Python: at 42M events the event store's 39.5M activity rows take 4.3 GB in pandas (7 GB of
    process memory), and each of the recommenders' interaction frames 2.5 GB.
    """

    def __init__(self, rows):
        self.rows = rows
        self._row_count: int | None = None

    def __len__(self) -> int:
        if isinstance(self.rows, pd.DataFrame):
            return len(self.rows)
        if self._row_count is None:  # counted once: each count scans the mart
            self._row_count = self.rows.aggregate("count(*)").fetchall()[0][0]
        return self._row_count

    def interactions(self, before: pd.Timestamp | None = None,
                     event_weights: dict[str, float] | None = None) -> pd.DataFrame:
        """:func:`event_interactions` of the days before ``before``'s day (all days without it).
        From a relation the rows come in no particular order (sorting 39M id pairs would double
        the time); InteractionMatrix.from_frame does not depend on it."""
        first_day_left_out = None if before is None else pd.Timestamp(before).floor("D")
        if isinstance(self.rows, pd.DataFrame):
            rows = self.rows
            if first_day_left_out is not None:
                rows = rows[pd.to_datetime(rows["activity_date"]) < first_day_left_out]
            return event_interactions(rows, event_weights)
        return duckdb_to_pandas(self._summed(first_day_left_out, event_weights))

    def matrix(self, before: pd.Timestamp | None = None) -> "InteractionMatrix":
        """:meth:`interactions` as a matrix; from a relation, coded by DuckDB
        (:meth:`InteractionMatrix.from_relation`)."""
        if isinstance(self.rows, pd.DataFrame):
            return InteractionMatrix.from_frame(self.interactions(before))
        first_day_left_out = None if before is None else pd.Timestamp(before).floor("D")
        return InteractionMatrix.from_relation(self._summed(first_day_left_out))

    def _summed(self, first_day_left_out: pd.Timestamp | None,
                event_weights: dict[str, float] | None = None):
        """The relation's interactions of the days before ``first_day_left_out``, as a relation."""
        relation = self.rows
        if first_day_left_out is not None:
            relation = relation.filter(f"activity_date < date '{first_day_left_out:%Y-%m-%d}'")
        confidence = " + ".join(f"{EVENT_COUNT_COLUMNS[event_type]} * {float(weight)!r}"
                                for event_type, weight in _event_weights(event_weights).items())
        return (relation
                .select(f"customer_id, product_id, last_event_at, "
                        f"cast({confidence} as double) as confidence")
                .filter("confidence > 0 and customer_id is not null and product_id is not null")
                .aggregate("customer_id, product_id, sum(confidence) as weight, "
                           "max(last_event_at) as last_at", "customer_id, product_id"))


class PurchaseLog:
    """A shop's order lines (fct_order_lines rows) as the recommenders read them: a pandas frame,
    or a DuckDB relation left in the warehouse. On a relation DuckDB groups the lines and only
    the groups come into Python: at 42M events the wholesale source's 22.6M lines took 4.4 GB
    in pandas, and grouping them there 15 s (interactions) and 4 s (baskets).
    """

    def __init__(self, rows):
        self.rows = rows
        self._summary: dict[str, object] = {}

    @classmethod
    def of(cls, order_lines: "pd.DataFrame | PurchaseLog") -> "PurchaseLog":
        return order_lines if isinstance(order_lines, PurchaseLog) else cls(order_lines)

    @property
    def first_ordered_at(self) -> pd.Timestamp:
        return pd.Timestamp(self._summarised("first_ordered_at"))

    @property
    def last_ordered_at(self) -> pd.Timestamp:
        return pd.Timestamp(self._summarised("last_ordered_at"))

    @property
    def customer_count(self) -> int:
        """Distinct customer ids on the lines."""
        return int(self._summarised("customer_count"))

    @property
    def product_count(self) -> int:
        """Distinct products on the lines."""
        return int(self._summarised("product_count"))

    def _summarised(self, figure: str):
        if figure not in self._summary:
            if isinstance(self.rows, pd.DataFrame):
                # only the figure asked for: each distinct count is a pass over the ids
                self._summary[figure] = {
                    "first_ordered_at": lambda: pd.to_datetime(self.rows["ordered_at"]).min(),
                    "last_ordered_at": lambda: pd.to_datetime(self.rows["ordered_at"]).max(),
                    "customer_count": lambda: self.rows["customer_id"].nunique(),
                    "product_count": lambda: self.rows["product_id"].nunique()}[figure]()
            else:  # all at once: each summary scans the mart
                figures = ["first_ordered_at", "last_ordered_at", "customer_count",
                           "product_count"]
                values = self.rows.aggregate(
                    "min(ordered_at), max(ordered_at), count(distinct customer_id), "
                    "count(distinct product_id)").fetchall()[0]
                self._summary.update(zip(figures, values))
        return self._summary[figure]

    def interactions(self, before: pd.Timestamp | None = None,
                     since: pd.Timestamp | None = None) -> pd.DataFrame:
        """:func:`purchase_interactions` of the lines ordered before ``before`` and from
        ``since`` on (when given). From a relation the rows come in no particular order, as
        EventLog's."""
        if isinstance(self.rows, pd.DataFrame):
            rows = self.rows
            if since is not None:
                rows = rows[pd.to_datetime(rows["ordered_at"]) >= since]
            return purchase_interactions(rows, before)
        return duckdb_to_pandas(self._grouped(before, since))

    def matrix(self, before: pd.Timestamp | None = None) -> "InteractionMatrix":
        """:meth:`interactions` as a matrix; from a relation, coded by DuckDB
        (:meth:`InteractionMatrix.from_relation`)."""
        if isinstance(self.rows, pd.DataFrame):
            return InteractionMatrix.from_frame(self.interactions(before))
        return InteractionMatrix.from_relation(self._grouped(before, None))

    def _grouped(self, before: pd.Timestamp | None, since: pd.Timestamp | None):
        """The relation's interactions of the lines ordered in [since, before), as a relation."""
        return self._purchases(before, since).aggregate(
            "customer_id, product_id, cast(count(distinct order_id) as double) as weight, "
            "max(ordered_at) as last_at", "customer_id, product_id")

    def customers(self, before: pd.Timestamp | None = None) -> np.ndarray:
        """The customers with a purchase (a line of :func:`purchase_lines`) before ``before``."""
        if isinstance(self.rows, pd.DataFrame):
            return purchase_lines(self.rows, before)["customer_id"].unique()
        relation = self._purchases(before, None).select("customer_id").distinct()
        return relation.fetchnumpy()["customer_id"]

    def _purchases(self, before: pd.Timestamp | None, since: pd.Timestamp | None):
        """The relation's lines of :func:`purchase_lines`, ordered in [since, before)."""
        import duckdb

        relation = self.rows.filter("customer_id is not null and not is_cancellation")
        ordered_at = duckdb.ColumnExpression("ordered_at")
        if before is not None:
            relation = relation.filter(
                ordered_at < duckdb.ConstantExpression(pd.Timestamp(before).to_pydatetime()))
        if since is not None:
            relation = relation.filter(
                ordered_at >= duckdb.ConstantExpression(pd.Timestamp(since).to_pydatetime()))
        return relation

    def baskets(self) -> pd.DataFrame:
        """order_id, product_id: each product once per basket, over the lines that are not
        cancellations (guest orders included). From a relation in no particular order."""
        if isinstance(self.rows, pd.DataFrame):
            require_columns(self.rows, ["order_id", "product_id", "is_cancellation"],
                            "order_lines")
            return self.rows.loc[~self.rows["is_cancellation"].astype(bool),
                                 ["order_id", "product_id"]].drop_duplicates()
        return duckdb_to_pandas(self.rows.filter("not is_cancellation")
                                .select("order_id, product_id").distinct())


def shop_log(order_lines: pd.DataFrame | PurchaseLog,
             events: pd.DataFrame | EventLog | None = None) -> "EventLog | PurchaseLog":
    """What every recommender learns from: the shop's event log when it has one (``events``: its
    fct_customer_product_activity rows, or an EventLog of them), otherwise its order lines."""
    if isinstance(events, pd.DataFrame):
        events = EventLog(events)
    if events is not None and len(events):
        return events
    return PurchaseLog.of(order_lines)


def shop_interactions(order_lines: pd.DataFrame | PurchaseLog,
                      events: pd.DataFrame | EventLog | None = None,
                      before: pd.Timestamp | None = None) -> pd.DataFrame:
    """What customers did before ``before`` (default: all of it), as every recommender learns it:
    for a shop with an event log, its events weighted views < carts < purchases; otherwise the
    distinct invoices per customer and product (:func:`shop_log`).

    The event log is summed per day, so ``before`` counts whole days: a ``before`` inside a day
    leaves that day out rather than peek past it.
    """
    return shop_log(order_lines, events).interactions(before)


def shop_matrix(order_lines: pd.DataFrame | PurchaseLog,
                events: pd.DataFrame | EventLog | None = None,
                before: pd.Timestamp | None = None) -> "InteractionMatrix":
    """:func:`shop_interactions` as a matrix. A model fitted on the matrix holds no frame: at 42M
    events (39.2M customer/product pairs) the frame is 2.5 GB in pandas, the matrix 1.1 GB with
    its ids. From a relation the frame is never made (InteractionMatrix.from_relation)."""
    return shop_log(order_lines, events).matrix(before)


def as_matrix(interactions: "pd.DataFrame | InteractionMatrix") -> "InteractionMatrix":
    """``interactions`` as a matrix, built when given as a frame."""
    if isinstance(interactions, InteractionMatrix):
        return interactions
    return InteractionMatrix.from_frame(interactions)


@dataclass(frozen=True)
class InteractionMatrix:
    """Interactions as a customers x items sparse matrix, with the ids of its rows and columns."""

    customer_ids: np.ndarray
    item_ids: np.ndarray
    weights: sparse.csr_matrix  # weight of each customer/item pair
    last_at: sparse.csr_matrix  # 1 + days from the data's latest interaction back to last_at
    reference_time: pd.Timestamp  # the latest interaction in the data

    @classmethod
    def from_frame(cls, interactions: pd.DataFrame) -> "InteractionMatrix":
        """Build the matrix over the interacted items, from one row per customer and product. The
        rows of ``interactions`` may come in any order: the matrix is the same (canonical CSR)."""
        require_columns(interactions, INTERACTION_COLUMNS, "interactions")
        if interactions.empty:
            raise ValueError(NO_INTERACTIONS)
        # factorized, not looked up row by row: at 42M events a lookup per row turns 39M id
        # strings into Python objects, in no cache-friendly order when DuckDB summed the rows
        rows, customer_ids = pd.factorize(interactions["customer_id"], sort=True)
        columns, item_ids = pd.factorize(interactions["product_id"], sort=True)
        if (rows < 0).any() or (columns < 0).any():
            raise ValueError(MISSING_IDS)
        return cls._coded(rows, columns, customer_ids, item_ids, interactions["weight"],
                          interactions["last_at"])

    @classmethod
    def from_relation(cls, interactions) -> "InteractionMatrix":
        """:meth:`from_frame` of a DuckDB relation with the interaction columns, the same matrix,
        but DuckDB codes the ids: only the sorted distinct ids come into Python as strings, not
        one per pair (at 42M events 39.2M pairs, whose frame was 2.5 GB in pandas)."""
        # the pairs are summed once, into a temporary table, and each id column is made distinct
        # and sorted once, into a table of its codes, which the ids and the pairs both read
        table = f"interactions_{uuid.uuid4().hex}"
        codes = {"customer_id": f"{table}_rows", "product_id": f"{table}_columns"}
        run = functools.partial(interactions.query, "interactions")
        run(f"create temp table {table} as from interactions")
        try:
            ids = {}
            for column, code_table in codes.items():
                run(f"create temp table {code_table} as select {column}, cast(row_number() over "
                    f"(order by {column}) - 1 as integer) as code from (select distinct {column} "
                    f"from {table})")
                ids[column] = run(f"select {column} from {code_table} order by code"
                                  ).fetchnumpy()[column]
            if not len(ids["customer_id"]):
                raise ValueError(NO_INTERACTIONS)
            if any(np.ma.is_masked(values) for values in ids.values()):
                raise ValueError(MISSING_IDS)
            coded = run(f"""
                select customers.code as row_code, products.code as column_code, weight, last_at
                from {table}
                join {codes["customer_id"]} as customers using (customer_id)
                join {codes["product_id"]} as products using (product_id)
            """).fetchnumpy()
        finally:
            for name in [table, *codes.values()]:
                run(f"drop table if exists {name}")
        return cls._coded(coded["row_code"], coded["column_code"], ids["customer_id"],
                          ids["product_id"], pd.Series(coded["weight"]),
                          pd.Series(coded["last_at"]))

    @classmethod
    def _coded(cls, rows: np.ndarray, columns: np.ndarray, customer_ids, item_ids,
               weight: pd.Series, interacted_at: pd.Series) -> "InteractionMatrix":
        """The matrix of pairs given as row and column codes into the sorted ids."""
        reference_time = pd.Timestamp(interacted_at.max())
        # stored as age + 1 so that an interaction on the last day is not an implicit zero
        age = reference_time - pd.to_datetime(interacted_at)
        age_days = age.dt.total_seconds() / 86400
        shape = (len(customer_ids), len(item_ids))
        # each pair's place in CSR order, sorted once for both matrices (sorting the 39.2M pairs
        # of the 42M shop's event source took 2.2 s; each matrix used to sort them again)
        order = sparse.csr_matrix((np.arange(len(rows), dtype=np.int64), (rows, columns)),
                                  shape=shape)
        if order.nnz < len(rows):  # the sort summed them into one place
            raise ValueError(f"interactions has {len(rows) - order.nnz} repeated (customer_id, "
                             "product_id) pairs; give one row per pair, as purchase_interactions "
                             "and event_interactions do.")

        def stored(values: np.ndarray) -> sparse.csr_matrix:
            return sparse.csr_matrix((values[order.data], order.indices, order.indptr),
                                     shape=shape)

        return cls(np.asarray(customer_ids, dtype=object), np.asarray(item_ids, dtype=object),
                   stored(weight.to_numpy(dtype=np.float32)),
                   stored(age_days.to_numpy(dtype=np.float32) + 1), reference_time)

    def on_items(self, item_ids: np.ndarray) -> "InteractionMatrix":
        """The same interactions over the columns ``item_ids`` (sorted, and holding every item of
        this matrix: a whole catalogue, say). The matrices share their stored values."""
        columns = pd.Index(item_ids).get_indexer(self.item_ids)
        if (columns < 0).any():
            raise ValueError("interactions has product_id values outside the given item_ids; "
                             "pass a catalogue that contains every interacted product.")

        def moved(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
            # sorted ids on both sides: each row's columns stay in order (canonical CSR)
            return sparse.csr_matrix((matrix.data, columns[matrix.indices], matrix.indptr),
                                     shape=(matrix.shape[0], len(item_ids)))

        return InteractionMatrix(self.customer_ids, np.asarray(item_ids, dtype=object),
                                 moved(self.weights), moved(self.last_at), self.reference_time)

    def rows_of(self, customer_ids: np.ndarray) -> np.ndarray:
        """Row index of each customer id, -1 for customers the matrix has never seen."""
        return self._customer_index.get_indexer(customer_ids)

    def columns_of(self, product_ids: np.ndarray) -> np.ndarray:
        """Column index of each product id, -1 for products outside the matrix."""
        return self._item_index.get_indexer(product_ids)

    # Built once per matrix: the evaluation and the hybrid look customers up about twenty times
    # per fit
    @functools.cached_property
    def _customer_index(self) -> pd.Index:
        return object_index(self.customer_ids)

    @functools.cached_property
    def _item_index(self) -> pd.Index:
        return object_index(self.item_ids)

    def binary(self) -> sparse.csr_matrix:
        """1 where the customer interacted with the item."""
        ones = self.weights.copy()
        ones.data = np.ones_like(ones.data)
        return ones
