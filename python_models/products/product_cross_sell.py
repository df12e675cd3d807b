"""Frequently-bought-together pairs with support, confidence and lift (logic: ml.scoring)."""

from ml import scoring
from ml.dbt_frames import SourceRows, to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.product_cross_sell(
        order_lines=SourceRows(dbt.ref("fct_order_lines"), "fct_order_lines"),
        products=to_pandas(dbt.ref("dim_products"), "dim_products"),
        customer_rfm=to_pandas(dbt.ref("customer_rfm"), "customer_rfm"),
    )
