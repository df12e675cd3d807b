"""Out-of-time validation of the churn and CLV models: metric rows against their baselines and
the per-customer test predictions behind them (logic: ml.scoring)."""

from ml import scoring
from ml.dbt_frames import SourceRows, to_pandas


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_model_validation(
        order_lines=SourceRows(dbt.ref("fct_order_lines"), "fct_order_lines"),
        customer_rfm=to_pandas(dbt.ref("customer_rfm"), "customer_rfm"),
        customer_profiles=to_pandas(dbt.ref("dim_customer_profiles"), "dim_customer_profiles"),
        events=SourceRows(dbt.ref("fct_customer_activity_days"), "fct_customer_activity_days"),
        horizon_days=int(dbt.config.get("horizon_days")),
    )
