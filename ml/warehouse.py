"""Reading the warehouse: read-only connections and the marts as DataFrames."""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pandas as pd

from ml import paths


class WarehouseMissingError(FileNotFoundError):
    """The warehouse file does not exist yet."""


@contextmanager
def connect(path: Path | None = None, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse; read-only by default, so readers never block a build."""
    path = Path(path or paths.warehouse_path())
    if read_only and not path.exists():
        raise WarehouseMissingError(
            f"No warehouse at {path}. Build it first with `globalshop build` (or `make demo`).")
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        yield connection
    finally:
        connection.close()


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    # fetchall, not fetchone: DuckDB 2 refuses the next statement while a result is unfinished
    rows = connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return rows[0][0] > 0


def read_table(connection: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> pd.DataFrame:
    """A whole table as a DataFrame; the table name is checked against the catalogue, never
    formatted into SQL unchecked."""
    if not table_exists(connection, schema, table):
        raise WarehouseMissingError(f"Table {schema}.{table} is not in the warehouse; run `globalshop build`.")
    return connection.table(f'"{schema}"."{table}"').df()


CUSTOMER_LOOKUP_SQL = """
select customers.*, rfm.recency_days, rfm.frequency, rfm.monetary, rfm.rfm_cell, rfm.rfm_segment
from main.dim_customers as customers
left join main.customer_rfm as rfm on customers.customer_id = rfm.customer_id
where customers.customer_id = $customer_id or customers.source_customer_id = $customer_id
order by customers.customer_id
"""


def customer_lookup(connection: duckdb.DuckDBPyConnection, customer_id: str) -> pd.DataFrame:
    """A customer's row of dim_customers with its RFM scores, by warehouse key
    (``online_retail:17850``) or by the source's own id (``17850``: one row per source that has it).

    The id goes to DuckDB as a bound parameter, never into the SQL text, so whatever a user types
    (``--customer ID``) is only ever compared with ids. No match gives an empty DataFrame.
    """
    customer_id = str(customer_id).strip()
    if not customer_id:
        raise ValueError("give a customer id, such as online_retail:17850 or 17850.")
    return connection.execute(CUSTOMER_LOOKUP_SQL, {"customer_id": customer_id}).df()
