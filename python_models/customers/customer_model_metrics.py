"""Out-of-time validation of the churn and CLV models against their baselines, and the campaign
model's validation AUC, as model_metrics rows (logic: ml.scoring)."""

from ml import scoring


def model(dbt, session):
    dbt.config(materialized="table")
    return scoring.customer_model_metrics(
        order_lines=dbt.ref("fct_order_lines").df(),
        customer_rfm=dbt.ref("customer_rfm").df(),
        customer_profiles=dbt.ref("dim_customer_profiles").df(),
        events=dbt.ref("fct_events").df(),
        horizon_days=int(dbt.config.get("horizon_days")),
    )
