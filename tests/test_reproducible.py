"""Two builds from the same inputs produce identical tables, scores included; source freshness
warns and errors as the raw files age."""

import json
import os
import time

import duckdb
import pytest
from warehouse_helpers import build_shop, shop_home

from ml import paths
from ml.build import source_freshness
from ml.cli import main


def checksums(home) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of every table and view of every schema, its rows ordered by all columns."""
    connection = duckdb.connect(str(home / "warehouse" / "globalshop.duckdb"), read_only=True)
    try:
        relations = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by 1, 2").fetchall()
        # names come from the catalogue, quoted; casting a row to text orders by every column
        return {f"{schema}.{name}": tuple(connection.execute(
            f'select count(*), md5(coalesce(string_agg(row_text, chr(10) order by row_text), \'\')) '
            f'from (select cast(relation as varchar) as row_text from "{schema}"."{name}" as relation)'
        ).fetchall()[0]) for schema, name in relations}
    finally:
        connection.close()


def score_tables(home) -> set[str]:
    """The tables the dbt Python models write, and everything built from them (dbt's manifest)."""
    manifest = json.loads((home / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    pending = [node_id for node_id, node in nodes.items() if node.get("language") == "python"]
    scores = set()
    while pending:
        node_id = pending.pop()
        if node_id in scores or node_id not in nodes:  # exposures are not nodes
            continue
        scores.add(node_id)
        pending.extend(manifest["child_map"].get(node_id, []))
    return {f"{nodes[node_id]['schema']}.{nodes[node_id]['alias']}" for node_id in scores
            if nodes[node_id]["resource_type"] == "model"}


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory) -> tuple[dict, dict, set[str]]:
    home = tmp_path_factory.mktemp("reproducible_shop")
    with shop_home(home):
        assert main(["data", "generate", "--scale", "0.01", "--seed", "5"]) == 0
    build_shop(home)
    first = checksums(home)
    build_shop(home)
    return first, checksums(home), score_tables(home)


def differing(first: dict, second: dict, tables: set[str]) -> list[str]:
    return sorted(table for table in tables if first[table] != second.get(table))


@pytest.mark.slow
def test_two_builds_of_the_same_inputs_give_identical_sql_tables(two_builds):
    first, second, scores = two_builds
    sql_tables = set(first) - scores

    assert {"main.fct_order_lines", "main.customer_rfm", "data_quality.quarantined_rows"} <= sql_tables
    assert all(rows > 0 for table, (rows, _) in first.items() if table.startswith("main."))
    assert set(second) == set(first)
    changed = differing(first, second, sql_tables)
    assert not changed, f"tables that differ between two builds: {changed}"


@pytest.mark.slow
def test_two_builds_of_the_same_inputs_give_identical_scores(two_builds):
    first, second, scores = two_builds

    assert scores
    changed = differing(first, second, scores)
    assert not changed, f"score tables that differ between two builds: {changed}"


def age_files(folder, days: float) -> None:
    modified = time.time() - days * 86_400
    for path in folder.glob("*.parquet"):
        os.utime(path, (modified, modified))


def test_source_freshness_warns_then_errors_as_raw_files_age(tmp_path):
    with shop_home(tmp_path):
        assert main(["data", "generate", "--scale", "0.005", "--seed", "2"]) == 0
        raw = paths.raw_dir()
        age_files(raw / "online_retail_ii", days=1)  # thresholds: warn after 7 days, error after 30
        age_files(raw / "events", days=10)
        age_files(raw / "customer_profiles", days=40)
        statuses = source_freshness()

    assert statuses == {"online_retail_ii.invoice_lines": "pass", "events.events": "warn",
                        "customer_profiles.customers": "error"}
