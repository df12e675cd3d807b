"""Great Expectations suites over the marts, validated on DataFrames read through DuckDB.

GE's SQL datasource does not work on DuckDB, so each mart is read into pandas and validated with
an in-memory (ephemeral) context. The suites restate the warehouse's contract from the outside:
a second, independent check beside dbt's own tests.
"""

import os
from dataclasses import dataclass

import duckdb

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402  (the variable above must be set first)
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

from ml.warehouse import table_exists  # noqa: E402

SCORES = [1, 2, 3, 4, 5]


def _unique_key(column: str) -> list:
    return [gxe.ExpectColumnValuesToBeUnique(column=column),
            gxe.ExpectColumnValuesToNotBeNull(column=column)]


def mart_expectations() -> dict[str, list]:
    """Each mart's expectations, built fresh for every run (a suite takes ownership of them)."""
    return {
        "fct_order_lines": [
            *_unique_key("order_line_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="order_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="product_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="ordered_at"),
            gxe.ExpectColumnValuesToBeBetween(column="unit_price", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeInSet(
                column="source_system", value_set=["online_retail", "online_retail_ii", "events", "cdnow"]),
        ],
        "fct_orders": [
            *_unique_key("order_id"),
            gxe.ExpectColumnValuesToBeBetween(column="line_count", min_value=1),
            gxe.ExpectColumnValuesToNotBeNull(column="net_amount"),
        ],
        "dim_customers": [
            *_unique_key("customer_id"),
            gxe.ExpectColumnValuesToBeBetween(column="order_count", min_value=0),
        ],
        "dim_products": [*_unique_key("product_id")],
        "fct_events": [
            *_unique_key("event_id"),
            gxe.ExpectColumnValuesToBeInSet(
                column="event_type", value_set=["view", "cart", "remove_from_cart", "purchase"]),
        ],
        "fct_sessions": [
            *_unique_key("session_id"),
            gxe.ExpectColumnValuesToBeBetween(column="event_count", min_value=1),
            gxe.ExpectColumnValuesToBeInSet(column="funnel_stage", value_set=["view", "cart", "purchase"]),
        ],
        "customer_rfm": [
            *_unique_key("customer_id"),
            gxe.ExpectColumnValuesToBeBetween(column="recency_days", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="frequency", min_value=1),
            *[gxe.ExpectColumnValuesToBeInSet(column=score, value_set=SCORES)
              for score in ("recency_score", "frequency_score", "monetary_score")],
        ],
        "data_quality.quarantined_rows": [
            *_unique_key("quarantined_row_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="rejection_reason"),
        ],
        "data_quality.source_reconciliation": [
            gxe.ExpectColumnValuesToBeBetween(column="unaccounted_rows", min_value=0, max_value=0),
        ],
    }


@dataclass
class MartValidation:
    table: str
    rows: int
    success: bool
    failures: list[str]


def validate_marts(connection: duckdb.DuckDBPyConnection) -> list[MartValidation]:
    """Validate every mart present in the warehouse against its suite."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    datasource = context.data_sources.add_pandas("warehouse")
    results = []
    for table, expectations in mart_expectations().items():
        schema, _, name = table.rpartition(".")
        if not table_exists(connection, schema or "main", name):
            continue
        frame = connection.sql(f'select * from "{schema or "main"}"."{name}"').df()
        batch = datasource.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=table, expectations=expectations))
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch, suite=suite))
        outcome = validation.run(batch_parameters={"dataframe": frame})
        failures = [
            f"{result.expectation_config.type}({result.expectation_config.kwargs.get('column')}): "
            f"{result.result.get('unexpected_count')} unexpected"
            for result in outcome.results if not result.success
        ]
        results.append(MartValidation(table, len(frame), outcome.success, failures))
    return results
