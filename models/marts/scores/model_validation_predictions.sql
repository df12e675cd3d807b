-- Per-customer predictions and outcomes of the latest out-of-time validation of each model.

select
    run_id,
    model_name,
    customer_id,
    predicted,
    actual

from {{ ref('customer_model_validation') }}
where row_type = 'prediction'
