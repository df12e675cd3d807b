-- Every raw row that did not make it into the marts, with the source it came from, where it was
-- in its file and why it was rejected. Nothing is dropped silently: see source_reconciliation.

{% set validated_models = [
    ('int_invoice_lines_validated', 'invoice_lines'),
    ('int_events_validated', 'events'),
    ('int_cdnow_transactions_validated', 'transactions'),
    ('int_customer_profiles_validated', 'customers'),
] %}

{% for model_name, source_table in validated_models %}
select
    {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as quarantined_row_id,
    source_system,
    '{{ source_table }}' as source_table,
    raw_row_id,
    rejection_reason,
    raw_record

from {{ ref(model_name) }}
where rejection_reason is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
