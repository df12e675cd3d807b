"""Offline evaluation of every recommender on the last 30 days, as model_metrics rows
(logic: ml.scoring)."""

from ml import scoring
from ml.dbt_frames import SourceRows, to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    # Runs after the serving job, never beside it: each holds its inputs and fitted models and
    # uses every core, so side by side they need twice the memory for no time saved
    # (BENCHMARKS.md, issue 6). The ref only orders the two; its rows are not read.
    dbt.ref("customer_recommendations")
    return scoring.recommender_metrics(
        order_lines=SourceRows(dbt.ref("fct_order_lines"), "fct_order_lines"),
        products=to_pandas(dbt.ref("dim_products"), "dim_products"),
        customer_rfm=to_pandas(dbt.ref("customer_rfm"), "customer_rfm"),
        events=SourceRows(dbt.ref("fct_customer_product_activity"),
                          "fct_customer_product_activity"),
    )
