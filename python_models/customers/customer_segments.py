"""RFM segment and behaviour cluster of every customer with an RFM score (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_segments(
        order_lines=dbt.ref("fct_order_lines").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
        events=dbt.ref("fct_events").df(),
        scored_at=dbt.config.get("scored_at") or None,
    )
