-- One row per order. A cancellation invoice is an order of its own, flagged, with a negative
-- amount, so summing net_amount over a customer's orders nets returns against purchases.
--
-- Incremental on DuckDB: the orders with a line the increment changed are deleted (pre_hooks)
-- and aggregated again (macros/order_lines_incremental.sql), and so are a reopened user's orders
-- from the reopened time on, whose sessions, hence order ids, may have changed.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{{ delete_reopened_events('ordered_at', 'customer_id', 'customer_id') }}",
        "{{ delete_rebuilt_rows('order_id', rebuilt_order_ids(), ['cdnow']) }}",
    ]
) }}

-- depends_on: {{ ref('int_events_batch') }}
-- depends_on: {{ ref('int_invoice_lines_batch') }}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}
    {% if is_incremental() %}
    where order_id in ({{ rebuilt_order_ids() }})
    {% endif %}

)

select
    order_id,
    min(customer_id) as customer_id,
    min(source_system) as source_system,
    min(source_order_id) as source_order_id,
    min(country) as country,
    min(ordered_at) as ordered_at,
    min(ordered_on) as ordered_on,
    count(*) as line_count,
    count(distinct product_id) as distinct_product_count,
    {{ sum_integers('quantity') }} as item_quantity,
    -- amounts are summed as exact decimals: a sum of doubles depends on the order the rows
    -- arrive in, which changes from run to run, so two builds would differ in the last digits
    cast(sum(cast(case when line_amount > 0 then line_amount else 0 end as decimal(38, 6))) as double) as gross_amount,
    cast(sum(cast(case when line_amount < 0 then -line_amount else 0 end as decimal(38, 6))) as double) as cancelled_amount,
    cast(sum(cast(line_amount as decimal(38, 6))) as double) as net_amount,
    {{ bool_or_portable('is_cancellation') }} as is_cancellation,
    min(customer_id) is null as is_guest

from order_lines
group by order_id
