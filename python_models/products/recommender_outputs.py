"""The served recommendations and the recommenders' offline evaluation, from one pass that fits
the models they share once (logic: ml.scoring); read through customer_recommendations and
model_metrics."""

from ml import scoring
from ml.dbt_frames import SourceRows, to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.recommender_outputs(
        order_lines=SourceRows(dbt.ref("fct_order_lines"), "fct_order_lines"),
        products=to_pandas(dbt.ref("dim_products"), "dim_products"),
        customer_rfm=to_pandas(dbt.ref("customer_rfm"), "customer_rfm"),
        events=SourceRows(dbt.ref("fct_customer_product_activity"),
                          "fct_customer_product_activity"),
        # "bought together with X" names a pair this table publishes
        cross_sell=to_pandas(dbt.ref("product_cross_sell"), "product_cross_sell"),
    )
