"""The same project on Spark: a small generated shop built on DuckDB and on a local Spark session
(dbt-spark, method session) gives the same marts, and `globalshop score` writes the same score
tables to both. Deselect locally with -m "not spark" (it takes a few minutes)."""

import importlib.util
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pytest
from warehouse_helpers import shop_home

from ml import paths
from ml.cli import main
from ml.score_job import connect_target, dbt_target, python_models, score_readers

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MARTS = [
    ("main", "fct_order_lines"), ("main", "fct_orders"), ("main", "dim_customers"),
    ("main", "dim_products"), ("main", "fct_events"), ("main", "fct_sessions"),
    ("main", "dim_customer_profiles"), ("main", "customer_rfm"),
    ("data_quality", "quarantined_rows"), ("data_quality", "source_reconciliation"),
]
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DOUBLE", "FLOAT", "DECIMAL")


def require_spark() -> None:
    """Skip (fail in CI) when the spark extra or Java is missing."""
    missing = [name for name in ("pyspark", "dbt.adapters.spark") if importlib.util.find_spec(name) is None]
    if shutil.which("java") is None:
        missing.append("java (Java 17)")
    if missing:
        message = (f"the spark target needs {', '.join(missing)}: pip install -e '.[spark]' "
                   "and a Java 17 runtime")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def target(name: str) -> Iterator[None]:
    previous = os.environ.get("GLOBALSHOP_TARGET")
    os.environ["GLOBALSHOP_TARGET"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("GLOBALSHOP_TARGET")
        else:
            os.environ["GLOBALSHOP_TARGET"] = previous


def aggregates_sql(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> str:
    """One row per table, the same SQL on both engines: the row count, every column's non-null
    count, and the sum of each numeric or boolean column (count of distinct values otherwise)."""
    columns = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()
    assert columns, f"{schema}.{table} is missing from the DuckDB warehouse"
    expressions = ["count(*)"]
    for column, data_type in columns:
        expressions.append(f"count({column})")
        if data_type.startswith(NUMERIC_TYPES):
            expressions.append(f"sum(cast({column} as double))")
        elif data_type == "BOOLEAN":
            expressions.append(f"sum(case when {column} then 1 else 0 end)")
        else:
            expressions.append(f"count(distinct {column})")
    return f"select {', '.join(expressions)} from {schema}.{table}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    require_spark()
    home = tmp_path_factory.mktemp("spark_parity_shop")
    with shop_home(home):
        assert main(["data", "generate", "--scale", "0.02", "--seed", "7"]) == 0
        with target("duckdb"):
            assert main(["build"]) == 0
            assert main(["score"]) == 0
        with target("spark"):
            assert main(["build"]) == 0
            assert main(["score"]) == 0
    return home


@pytest.fixture(scope="module")
def measured(shop) -> dict[str, tuple[list, list]]:
    """Per table (and per score table), the aggregates on DuckDB and on Spark."""
    with shop_home(shop):
        duckdb_connection = duckdb.connect(str(paths.warehouse_path()), read_only=True)
        try:
            queries = {table: aggregates_sql(duckdb_connection, schema, table) for schema, table in MARTS}
            # the score tables, and the SQL models `globalshop score` builds on them
            models = set(python_models())
            score_tables = sorted(models) + score_readers(models)
            queries |= {table: f"select count(*) from main.{table}" for table in score_tables}
            on_duckdb = {table: list(duckdb_connection.execute(sql).fetchall()[0])
                         for table, sql in queries.items()}
        finally:
            duckdb_connection.close()
        with target("spark"), connect_target(dbt_target()) as spark:
            on_spark = {table: list(spark.session.sql(sql).collect()[0]) for table, sql in queries.items()}
    return {table: (on_duckdb[table], on_spark[table]) for table in queries}


@pytest.mark.parametrize("table", [table for _, table in MARTS])
def test_marts_agree_on_both_targets(measured, table):
    on_duckdb, on_spark = measured[table]
    assert on_duckdb[0] > 0, f"{table} is empty: the comparison would prove nothing"
    assert on_spark == pytest.approx(on_duckdb, rel=1e-9, abs=1e-6)


def test_score_tables_exist_on_both_targets_with_the_same_rows(measured):
    score_tables = {table: counts for table, counts in measured.items()
                    if table not in {name for _, name in MARTS}}
    assert {"customer_segments", "customer_churn_scores", "customer_clv",
            "customer_recommendations", "model_metrics"} <= set(score_tables)
    assert {table: on_spark for table, (_, on_spark) in score_tables.items()} == \
        {table: on_duckdb for table, (on_duckdb, _) in score_tables.items()}
