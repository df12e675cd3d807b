"""Churn probability, risk tier and top drivers per customer (logic: ml.scoring)."""

from ml import scoring
from ml.dbt_frames import SourceRows, to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_churn_scores(
        order_lines=SourceRows(dbt.ref("fct_order_lines"), "fct_order_lines"),
        customer_rfm=to_pandas(dbt.ref("customer_rfm"), "customer_rfm"),
        events=SourceRows(dbt.ref("fct_customer_activity_days"), "fct_customer_activity_days"),
        horizon_days=int(dbt.config.get("horizon_days")),
        scored_at=dbt.config.get("scored_at") or None,
    )
