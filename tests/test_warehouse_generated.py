"""The whole path on a small generated shop, through `globalshop demo` as a user runs it:
generate, build (SQL and scoring) and report."""

import json
import shutil

import duckdb
import pandas as pd
import pytest
from warehouse_helpers import query, shop_home, validate_shop

from ml import paths, score_job, scoring
from ml.build import run_dbt
from ml.dbt_frames import SourceRows, duckdb_to_pandas, to_pandas
from ml.cli import main

SOURCES = ["customer_profiles", "events", "online_retail_ii"]


@pytest.fixture(scope="module")
def generated_shop(tmp_path_factory):
    home = tmp_path_factory.mktemp("generated_shop")
    with shop_home(home):
        assert main(["demo", "--scale", "0.02", "--seed", "7"]) == 0
    return home


def test_demo_writes_the_report(generated_shop):
    page = (generated_shop / "reports" / "business_impact.html").read_text()
    assert "<h2>Summary</h2>" in page


def test_build_reconciles_every_generated_source(generated_shop):
    rows = query(generated_shop, "select source_system, raw_rows, unaccounted_rows "
                                 "from data_quality.source_reconciliation order by 1")
    assert [source for source, _, _ in rows] == SOURCES
    assert all(raw > 0 and unaccounted == 0 for _, raw, unaccounted in rows)


def test_generated_dirt_is_quarantined_with_reasons(generated_shop):
    reasons = {reason for (reason,) in query(
        generated_shop, "select distinct rejection_reason from data_quality.quarantined_rows")}
    assert {"duplicate_line", "non_product_code", "non_positive_price"} <= reasons


@pytest.mark.parametrize("table", ["fct_order_lines", "fct_orders", "dim_customers", "dim_products",
                                   "fct_events", "fct_sessions", "dim_customer_profiles",
                                   "customer_rfm"])
def test_every_mart_has_rows(generated_shop, table):
    [(rows,)] = query(generated_shop, f"select count(*) from {table}")
    assert rows > 0


def test_cancellations_guests_and_funnels_survive_into_the_marts(generated_shop):
    [(cancellations, guests)] = query(
        generated_shop, "select sum(case when is_cancellation then 1 else 0 end), "
                        "sum(case when is_guest then 1 else 0 end) from fct_orders")
    stages = {stage for (stage,) in query(generated_shop, "select distinct funnel_stage from fct_sessions")}
    assert cancellations > 0 and guests > 0
    assert stages == {"view", "cart", "purchase"}


def test_order_lines_are_stored_in_key_order_so_the_models_read_them_without_a_sort(
        generated_shop):
    with shop_home(generated_shop):
        connection = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        lines = connection.table("fct_order_lines")
        for source in SOURCES[1:]:  # both sources with order lines, as SourceRows reads them
            ids = duckdb_to_pandas(lines.filter(f"source_system = '{source}'")
                                   .select("order_line_id"))["order_line_id"]
            assert len(ids) > 0 and ids.is_monotonic_increasing
    finally:
        connection.close()


@pytest.mark.parametrize(("score", "sources"), [
    (scoring.customer_segments, {"events", "online_retail_ii"}),
    # the event log's three months are too short for lifetime value's two horizons
    (scoring.customer_clv, {"online_retail_ii"})])
def test_customer_models_score_the_marts_read_per_source_as_the_whole_frames(generated_shop,
                                                                            score, sources):
    # dbt reads each source's lines and events when its turn comes; tests and `globalshop
    # score` pass whole frames, coded in one pass over all sources
    with shop_home(generated_shop):
        connection = duckdb.connect(str(paths.warehouse_path()), read_only=True)
    try:
        marts = {"order_lines": "fct_order_lines", "events": "fct_customer_activity_days"}
        rfm = to_pandas(connection.table("customer_rfm"), "customer_rfm")
        per_source = score(customer_rfm=rfm, **{argument: SourceRows(connection.table(table), table)
                                                for argument, table in marts.items()})
        whole = score(customer_rfm=rfm, **{argument: to_pandas(connection.table(table), table)
                                           for argument, table in marts.items()})
    finally:
        connection.close()
    assert set(per_source["source_system"]) == sources
    pd.testing.assert_frame_equal(per_source, whole)


def test_every_rfm_segment_is_named(generated_shop):
    [(unnamed,)] = query(generated_shop, "select count(*) from customer_rfm where rfm_segment is null")
    [(segments,)] = query(generated_shop, "select count(distinct rfm_segment) from customer_rfm")
    assert unnamed == 0 and segments >= 8


def test_great_expectations_suite_passes(generated_shop):
    results = validate_shop(generated_shop)
    assert [(r.table, r.failures) for r in results if not r.success] == []


def test_a_shop_with_only_one_source_builds_the_others_empty(tmp_path, customer_profiles_file, capsys):
    with shop_home(tmp_path):
        assert main(["data", "import", "customer-profiles", str(customer_profiles_file)]) == 0
        assert main(["build"]) == 0
    assert query(tmp_path, "select count(*) from fct_order_lines") == [(0,)]
    assert query(tmp_path, "select count(*) from dim_customers") == [(2_240,)]
    log = (tmp_path / "logs" / "dbt_build.log").read_text()
    assert "No raw files for source events.events" in log


def test_import_without_a_path_is_a_user_error_not_a_traceback(tmp_path, capsys):
    with shop_home(tmp_path):
        assert main(["data", "import", "events"]) == 1
    assert "needs the path of your file" in capsys.readouterr().err


def test_docs_generate_works_and_every_model_and_column_is_documented(generated_shop):
    with shop_home(generated_shop):
        return_code, log_path = run_dbt(["docs", "generate"], "dbt_docs.log")
    assert return_code == 0, log_path.read_text()[-2000:]
    manifest = json.loads((generated_shop / "target" / "manifest.json").read_text())
    catalog = json.loads((generated_shop / "target" / "catalog.json").read_text())
    undocumented = []
    for unique_id, table in catalog["nodes"].items():
        node = manifest["nodes"][unique_id]
        if node["resource_type"] not in ("model", "seed"):
            continue  # stored test failures
        if not node["description"]:
            undocumented.append(node["name"])
        documented = {name.lower() for name, column in node["columns"].items() if column["description"]}
        undocumented += [f"{node['name']}.{column}" for column in table["columns"]
                         if column.lower() not in documented]
    assert undocumented == []


def test_a_partial_build_passes_dbt_arguments_and_keeps_the_other_tables(generated_shop, tmp_path):
    home = tmp_path / "shop"
    shutil.copytree(generated_shop / "data", home / "data")
    shutil.copytree(generated_shop / "warehouse", home / "warehouse")
    [(churn_scores,)] = query(home, "select count(*) from customer_churn_scores")
    with shop_home(home):
        assert main(["build", "--select", "customer_rfm", "--vars", '{"as_of_date": "2011-06-01"}']) == 0
    assert query(home, "select distinct cast(as_of_date as varchar) from customer_rfm") == [("2011-06-01",)]
    assert query(home, "select count(*) from customer_churn_scores") == [(churn_scores,)]


def test_score_on_duckdb_rewrites_the_tables_dbt_wrote_reading_relations_as_dbt(
        generated_shop, tmp_path, monkeypatch):
    home = tmp_path / "shop"
    shutil.copytree(generated_shop / "data", home / "data")
    shutil.copytree(generated_shop / "warehouse", home / "warehouse")
    tables = ["customer_segments", "recommender_outputs"]
    written_by_dbt = {table: query(home, f"select * from {table} order by all") for table in tables}
    # the models get the marts as DuckDB relations, as in dbt, and read only what they use: whole
    # frames of the marts ran out of 24 GB at 42M events
    handed = []
    original_ref = score_job.ModelContext.ref

    def recording_ref(context, name):
        handed.append(original_ref(context, name))
        return handed[-1]

    monkeypatch.setattr(score_job.ModelContext, "ref", recording_ref)
    with shop_home(home):
        # what `globalshop score` runs in a process of its own
        score_job.write_score_tables(score_job.python_models(), tables)
    assert handed and all(isinstance(ref, duckdb.DuckDBPyRelation) for ref in handed)
    assert {table: query(home, f"select * from {table} order by all") for table in tables} \
        == written_by_dbt


def test_freshness_reports_each_source_with_files(generated_shop, capsys):
    with shop_home(generated_shop):
        assert main(["freshness"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert sum(1 for line in lines if line.strip().endswith("pass")) == 3
