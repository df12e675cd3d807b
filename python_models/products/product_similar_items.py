"""The ten products most like each product (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.product_similar_items(
        order_lines=dbt.ref("fct_order_lines").df(),
        products=dbt.ref("dim_products").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
    )
