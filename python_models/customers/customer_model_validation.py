"""Out-of-time validation of the churn and CLV models: metric rows against their baselines and
the per-customer test predictions behind them (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_model_validation(
        order_lines=dbt.ref("fct_order_lines").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
        customer_profiles=dbt.ref("dim_customer_profiles").df(),
        events=dbt.ref("fct_events").df(),
        horizon_days=int(dbt.config.get("horizon_days")),
    )
