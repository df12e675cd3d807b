"""One small generated shop per test session, shared by the report, notebook and dashboard tests,
and a way to add the tables other work is still building (for the report's charts on them)."""

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from warehouse_helpers import shop_home

from ml.cli import main

SCALE, SEED = "0.05", "7"


def generated_shop(tmp_path_factory) -> Path:
    """The home of a shop generated at scale 0.05 and built; built on first use in the session."""
    home = tmp_path_factory.getbasetemp() / "report_generated_shop"
    if not (home / "warehouse" / "globalshop.duckdb").exists():
        home.mkdir(exist_ok=True)
        with shop_home(home):
            assert main(["data", "generate", "--scale", SCALE, "--seed", SEED]) == 0
            assert main(["build"]) == 0
    return home


def with_coming_tables(home: Path, target: Path) -> Path:
    """A copy of ``home``'s warehouse at ``target``/warehouse/ with the tables still being built
    elsewhere (validation predictions, recommendations, cross-sell pairs, recommender metrics)
    added when the build did not make them, filled from the warehouse's own scores with known,
    seeded values."""
    warehouse = target / "warehouse" / "globalshop.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(home / "warehouse" / "globalshop.duckdb", warehouse)
    rng = np.random.default_rng(0)
    with duckdb.connect(str(warehouse)) as connection:
        _add_missing_tables(connection, rng)
    return target


def missing_coming_tables(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """Which of the tables other work is still building this warehouse lacks."""
    present = {name for (name,) in connection.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    missing = {"model_validation_predictions", "product_cross_sell",
               "customer_recommendations"} - present
    [(ranking_rows,)] = connection.execute(
        "select count(*) from model_metrics where metric like 'hit_rate_at_%'").fetchall()
    return missing | ({"recommender metrics"} if ranking_rows == 0 else set())


def _add_missing_tables(connection: duckdb.DuckDBPyConnection, rng: np.random.Generator) -> None:
    missing = missing_coming_tables(connection)
    if "model_validation_predictions" in missing:
        churn = connection.sql("select customer_id, churn_probability as predicted, model_name, "
                               "source_system from customer_churn_scores").df()
        clv = connection.sql("select customer_id, predicted_revenue_90d as predicted, model_name, "
                             "source_system from customer_clv").df()
        churn["actual"] = (rng.random(len(churn)) < churn["predicted"]).astype(float)
        clv["actual"] = clv["predicted"] * rng.gamma(2.0, 0.5, len(clv))
        predictions = pd.concat([churn, clv]).assign(
            run_id=lambda frame: frame["source_system"] + "@2011-09-11+90d")
        connection.register("predictions", predictions[["run_id", "model_name", "customer_id",
                                                        "predicted", "actual"]])
        connection.execute("create table model_validation_predictions as select * from predictions")
    if "product_cross_sell" in missing:
        connection.execute("""
            create table product_cross_sell as
            with baskets as (select distinct order_id, product_id from fct_order_lines
                             where customer_id is not null and not is_cancellation)
            select a.product_id, b.product_id as other_product_id,
                   count(*) / (select count(distinct order_id) from baskets) as support,
                   0.5 as confidence, 3.0 as lift, count(*) as pair_count
            from baskets a join baskets b on a.order_id = b.order_id and a.product_id <> b.product_id
            group by 1, 2 having count(*) >= 3""")
    if "customer_recommendations" in missing:
        connection.execute("""
            create table customer_recommendations as
            select customer_id, rank, product_id, 1.0 / rank as score, 'hybrid' as model_name,
                   'popular now' as reason
            from (select customer_id from customer_rfm limit 50)
            cross join (select row_number() over () as rank, product_id
                        from (select product_id from fct_order_lines group by 1
                              order by count(*) desc limit 10))""")
    if "recommender metrics" in missing:
        for model_name, hit_rate in (("popularity", 0.2), ("item_knn", 0.3), ("hybrid", 0.4)):
            connection.execute(
                "insert into model_metrics (run_id, model_name, metric, value) values "
                "('online_retail_ii@2011-11-09', ?, 'hit_rate_at_10', ?), "
                "('online_retail_ii@2011-11-09', ?, 'ndcg_at_10', ?)",
                [model_name, hit_rate, model_name, hit_rate / 3])
