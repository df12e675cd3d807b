"""What a dbt Python model's `dbt.ref()` returns, as a pandas DataFrame, on any adapter."""

import pandas as pd

# The key of each mart the scoring models read. Engines return rows in no fixed order (DuckDB
# scans in parallel), and several models depend on row order (k-means seeding, tie-breaks in
# rankings), so frames are read sorted: the same inputs then give the same scores.
MART_KEYS = {
    "fct_order_lines": "order_line_id",
    "fct_events": "event_id",
    "customer_rfm": "customer_id",
    "dim_products": "product_id",
    "dim_customer_profiles": "customer_id",
}


def to_pandas(relation, table: str) -> pd.DataFrame:
    """`relation` (DuckDB relation or Spark DataFrame on Databricks) sorted by `table`'s key."""
    key = MART_KEYS[table]
    if hasattr(relation, "df"):
        return relation.order(key).df()
    return relation.orderBy(key).toPandas()
