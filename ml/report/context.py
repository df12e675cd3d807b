"""What every section reads through: the read-only warehouse, the settings and the figure store."""

from dataclasses import dataclass

import duckdb
import pandas as pd

from ml.report.figures import FigureStore
from ml.report.settings import ReportSettings
from ml.warehouse import table_exists

INVOICE_SOURCES = ("online_retail", "online_retail_ii")


@dataclass
class ReportContext:
    connection: duckdb.DuckDBPyConnection
    settings: ReportSettings
    figures: FigureStore

    def has(self, table: str, schema: str = "main") -> bool:
        """Whether the table exists (tables still being built by other work may not yet)."""
        return table_exists(self.connection, schema, table)

    def frame(self, sql: str, parameters: list | None = None) -> pd.DataFrame:
        """A query's result; values always go in as bound parameters."""
        return self.connection.execute(sql, parameters or []).df()

    def customer_sources(self) -> list[str]:
        """Sources with scored customers, most customers first."""
        return customer_sources(self.connection)

    def main_source(self) -> str | None:
        """The shop the summary describes (see ``main_source``)."""
        return self.settings.main_source or main_source(self.connection)

    def money(self, value: float, source: str) -> str:
        return f"{value:,.0f} {self.settings.currency(source)}"


def customer_sources(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Sources with customers in customer_rfm, most customers first."""
    if not table_exists(connection, "main", "customer_rfm"):
        return []
    rows = connection.execute("select source_system from customer_rfm group by 1 "
                              "order by count(*) desc, 1").fetchall()
    return [source for (source,) in rows]


def main_source(connection: duckdb.DuckDBPyConnection) -> str | None:
    """The main shop: the invoice source with most customers, else the source with most
    customers (the event log is a storefront of its own, used for the funnel)."""
    sources = customer_sources(connection)
    invoices = [source for source in sources if source in INVOICE_SOURCES]
    return (invoices or sources or [None])[0]


def missing_table_note(table: str, what: str) -> str:
    return (f"Table main.{table} is not in this warehouse yet, so {what} cannot be shown. "
            "It appears after a `globalshop build` that includes the model writing it.")
