"""Top-10 product recommendations per customer from the hybrid, with a reason (logic: ml.scoring)."""

from ml import scoring
from ml.dbt_frames import SourceRows, to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_recommendations(
        order_lines=SourceRows(dbt.ref("fct_order_lines"), "fct_order_lines"),
        products=to_pandas(dbt.ref("dim_products"), "dim_products"),
        customer_rfm=to_pandas(dbt.ref("customer_rfm"), "customer_rfm"),
        events=SourceRows(dbt.ref("fct_customer_product_activity"),
                          "fct_customer_product_activity"),
        # "bought together with X" names a pair this table publishes
        cross_sell=to_pandas(dbt.ref("product_cross_sell"), "product_cross_sell"),
    )
