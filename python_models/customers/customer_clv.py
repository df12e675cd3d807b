"""Probability alive, expected purchases and 12-month lifetime value per customer (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_clv(
        order_lines=dbt.ref("fct_order_lines").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
        events=dbt.ref("fct_events").df(),
        horizon_days=int(dbt.config.get("horizon_days")),
        annual_discount_rate=float(dbt.config.get("annual_discount_rate")),
        scored_at=dbt.config.get("scored_at") or None,
    )
