"""Offline evaluation of every recommender on the last 30 days, as model_metrics rows
(logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.recommender_metrics(
        order_lines=dbt.ref("fct_order_lines").df(),
        products=dbt.ref("dim_products").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
    )
