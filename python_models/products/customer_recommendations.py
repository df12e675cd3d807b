"""Top-10 product recommendations per customer from the hybrid, with a reason (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_recommendations(
        order_lines=dbt.ref("fct_order_lines").df(),
        products=dbt.ref("dim_products").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
    )
