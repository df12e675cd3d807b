"""Churn probability, risk tier and top drivers per customer (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_churn_scores(
        order_lines=dbt.ref("fct_order_lines").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
        events=dbt.ref("fct_events").df(),
        horizon_days=int(dbt.config.get("horizon_days")),
        scored_at=dbt.config.get("scored_at") or None,
    )
