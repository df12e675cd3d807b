"""What a dbt Python model's `dbt.ref()` returns, as a pandas DataFrame, on any adapter."""

from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The key of each mart the scoring models read. Engines return rows in no fixed order (DuckDB
# scans in parallel), and several models depend on row order (k-means seeding, tie-breaks in
# rankings), so frames are read sorted: the same inputs then give the same scores.
MART_KEYS = {
    "fct_order_lines": ("order_line_id",),
    "fct_customer_activity_days": ("customer_id", "activity_date"),
    "fct_customer_product_activity": ("customer_id", "product_id", "activity_date"),
    "customer_rfm": ("customer_id",),
    "dim_products": ("product_id",),
    "dim_customer_profiles": ("customer_id",),
    "product_cross_sell": ("source_system", "product_id", "other_product_id"),
}
# Marts the warehouse writes in the order of their (one-column) key, on DuckDB, whose scans keep
# insertion order: read as stored, and sorted only if the rows do not come in key order. At 42M
# events one source's 22.6M order lines read sorted took 35 s and peaked at 9.3 GB, read as
# stored 6 s and 6.5 GB; fct_order_lines sorts them once per build, in about 20 s.
STORED_IN_KEY_ORDER = {"fct_order_lines"}
# The columns the models use, where a mart has many more: at tens of millions of rows every
# column left in the database is memory the Python models never hold.
MODEL_COLUMNS = {
    "fct_order_lines": ("customer_id", "order_id", "product_id", "source_system", "ordered_at",
                        "quantity", "line_amount", "is_cancellation"),
}


# Rows of a mart per frame when it is read in batches: a batch's strings are tens of MB.
BATCH_ROWS = 1_000_000


def to_pandas(relation, table: str, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """`relation` sorted by `table`'s key, with only the columns the models use (or only
    ``columns``): a DuckDB relation (dbt-duckdb), a Spark DataFrame (Databricks) or a pandas
    DataFrame (`globalshop score`)."""
    key = list(MART_KEYS[table])
    columns = _columns_read(table, columns)
    if isinstance(relation, pd.DataFrame):
        ordered = relation.sort_values(key, kind="stable", ignore_index=True)
        return ordered[columns] if columns else ordered
    if hasattr(relation, "arrow"):
        if table in STORED_IN_KEY_ORDER:
            stored = _duckdb_arrow(relation.select(*dict.fromkeys([*key, *columns]))
                                   if columns else relation)
            if _ascending(stored.column(key[0])):
                kept = columns or stored.column_names
                return _arrow_to_pandas(stored.select(kept))
            del stored
        ordered = relation.order(", ".join(key))
        return duckdb_to_pandas(ordered.select(*columns) if columns else ordered)
    ordered = relation.orderBy(*key)
    return (ordered.select(*columns) if columns else ordered).toPandas()


def _columns_read(table: str, columns: tuple[str, ...] | None) -> list[str]:
    """``columns``, or by default the columns the models use of ``table`` (empty: all)."""
    return list(MODEL_COLUMNS.get(table, ()) if columns is None else columns)


def _ascending(column: pa.ChunkedArray) -> bool:
    """Whether ``column`` has no null and never decreases (checked in Arrow, without a copy)."""
    if column.null_count or len(column) < 2:
        return column.null_count == 0
    neighbours = pc.less_equal(column.slice(0, len(column) - 1), column.slice(1))
    return pc.all(neighbours).as_py()


def _streams_ascending(relation, column: str) -> bool:
    """Whether the DuckDB relation's ``column``, streamed as stored, has no null and never
    decreases (one pass over that column alone, a batch at a time)."""
    previous = None
    for batch in relation.select(column).to_arrow_reader(BATCH_ROWS):
        values = batch.column(0)
        if not len(values):
            continue
        if not _ascending(pa.chunked_array([values])) or (
                previous is not None and pc.less(values[0], previous).as_py()):
            return False
        previous = values[len(values) - 1]
    return True


def duckdb_to_pandas(relation) -> pd.DataFrame:
    """A DuckDB relation's rows as a pandas DataFrame, through Arrow: half the peak memory of
    .df() and twice as fast on wide string columns; dates as datetime64, not one Python object
    per cell."""
    return _arrow_to_pandas(_duckdb_arrow(relation))


def _duckdb_arrow(relation) -> pa.Table:
    arrow = relation.arrow()
    # DuckDB 2 returns a record batch reader; earlier versions a table
    return arrow.read_all() if hasattr(arrow, "read_all") else arrow


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(date_as_object=False)


class SourceRows:
    """A mart read one shop source at a time: `of(source)` is `to_pandas` of the rows whose
    `source_system` is `source`, the filter pushed down to the engine. A model that scores each
    source on its own then holds one source's rows, not the whole mart beside a copy of one
    source's share of it (at 10M events the marts the recommenders read are 1.9 GB in pandas).
    ``columns`` narrows the columns read (default: every column the models use)."""

    def __init__(self, relation, table: str, columns: tuple[str, ...] | None = None):
        self.relation = relation
        self.table = table
        self.columns = columns

    def of(self, source: str) -> pd.DataFrame:
        return to_pandas(self._filtered(source), self.table, self.columns)

    def batches(self, source: str, rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """`of(source)` in consecutive frames of at most ``rows`` rows, for a model that turns
        rows into arrays as it reads: it then never holds the mart's strings whole (at 42M events
        one source's 22.6M order lines are 3.1 GB in Arrow and more in pandas). On DuckDB the
        rows stream from the engine; any other engine's come in one frame."""
        relation = self._filtered(source)
        if not hasattr(relation, "arrow"):
            yield to_pandas(relation, self.table, self.columns)
            return
        key = list(MART_KEYS[self.table])
        if not (self.table in STORED_IN_KEY_ORDER and _streams_ascending(relation, key[0])):
            relation = relation.order(", ".join(key))
        columns = _columns_read(self.table, self.columns)
        for batch in (relation.select(*columns) if columns else relation).to_arrow_reader(rows):
            yield _arrow_to_pandas(pa.Table.from_batches([batch]))

    def only(self, columns: tuple[str, ...]) -> "SourceRows":
        """The same rows, read with only ``columns``."""
        return SourceRows(self.relation, self.table, columns)

    def left_in_duckdb(self, source: str):
        """The rows of ``source`` as a DuckDB relation, not read yet (for a model that has DuckDB
        aggregate them); a pandas DataFrame, as :meth:`of`, on any other engine."""
        rows = self._filtered(source)
        return rows if hasattr(rows, "arrow") else to_pandas(rows, self.table, self.columns)

    def _filtered(self, source: str):
        relation = self.relation
        if isinstance(relation, pd.DataFrame):
            return relation[relation["source_system"] == source]
        if hasattr(relation, "arrow"):
            import duckdb

            return relation.filter(duckdb.ColumnExpression("source_system")
                                   == duckdb.ConstantExpression(source))
        return relation.where(relation["source_system"] == source)
