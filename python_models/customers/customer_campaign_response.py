"""Demographic and spending segments and campaign-response probability per profiled customer
(logic: ml.scoring)."""

from ml import scoring
from ml.dbt_frames import to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_campaign_response(
        customer_profiles=to_pandas(dbt.ref("dim_customer_profiles"), "dim_customer_profiles"),
        scored_at=dbt.config.get("scored_at") or None,
    )
