-- One row per clean order line from every source: invoice lines (cancellations included, with
-- negative quantities), purchases in the event log, and CDNOW transactions. Lines with no customer
-- id are kept as guest lines (customer_id null), so revenue totals stay whole.
--
-- Incremental on DuckDB: the lines an increment rejects or may change are deleted (pre_hooks),
-- and its new and changed lines added (macros/order_lines_incremental.sql).

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook=[
        "{{ delete_reopened_events('ordered_at', 'customer_id', 'customer_id') }}",
        "{{ delete_rejected_invoice_and_cdnow_lines() }}",
    ]
) }}

-- depends_on: {{ ref('int_events_batch') }}
-- depends_on: {{ ref('int_invoice_lines_batch') }}

with

{% if is_incremental() %}

invoice_lines as (

    -- a loaded line that stays clean is there already, in its place
    select * from {{ ref('int_invoice_lines_batch') }}
    where rejection_reason is null
        and {{ batch_order_line_id() }} not in (
            select order_line_id from {{ this }}
            where order_line_id in (
                select {{ batch_order_line_id() }} from {{ ref('int_invoice_lines_batch') }}
                where batch_reason <> 'new_file'
            )
        )

),

event_purchases as (

    select fct_events.*
    from {{ ref('fct_events') }} as fct_events
    inner join ({{ events_reopened() }}) as reopened
        on fct_events.customer_id = reopened.customer_id
        and fct_events.event_at >= reopened.reopen_from
    where fct_events.event_type = 'purchase'

),

{% else %}

invoice_lines as (

    select * from {{ ref('int_invoice_lines_validated') }}
    where rejection_reason is null

),

event_purchases as (

    select * from {{ ref('fct_events') }}
    where event_type = 'purchase'

),

{% endif %}

cdnow_transactions as (

    select * from {{ ref('int_cdnow_transactions_validated') }}
    where rejection_reason is null

),

invoice_order_lines as (

    select
        {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as order_line_id,
        {{ source_key('source_system', 'invoice_no') }} as order_id,
        {{ source_key('source_system', 'source_customer_id') }} as customer_id,
        {{ source_key('source_system', 'stock_code') }} as product_id,
        source_system,
        invoice_no as source_order_id,
        stock_code as source_product_id,
        description,
        country,
        invoiced_at as ordered_at,
        quantity,
        unit_price,
        is_cancellation

    from invoice_lines

),

event_order_lines as (

    select
        event_id as order_line_id,
        -- a session's purchases form one order
        session_id as order_id,
        customer_id,
        product_id,
        source_system,
        session_id as source_order_id,
        {{ dbt.split_part('product_id', "':'", 2) }} as source_product_id,
        category_code as description,
        cast(null as {{ dbt.type_string() }}) as country,
        event_at as ordered_at,
        cast(1 as {{ dbt.type_bigint() }}) as quantity,
        price as unit_price,
        false as is_cancellation

    from event_purchases

),

cdnow_order_lines as (

    select
        {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as order_line_id,
        -- a customer's transactions on one day form one order
        {{ dbt.concat(["source_system", "':'", "source_customer_id", "'@'", "ordered_on_text"]) }}
            as order_id,
        {{ source_key('source_system', 'source_customer_id') }} as customer_id,
        -- CDNOW records how many CDs, not which ones
        {{ source_key('source_system', "'cd'") }} as product_id,
        source_system,
        {{ dbt.concat(["source_customer_id", "'@'", "ordered_on_text"]) }} as source_order_id,
        'cd' as source_product_id,
        cast(null as {{ dbt.type_string() }}) as description,
        cast(null as {{ dbt.type_string() }}) as country,
        cast(ordered_on as {{ dbt.type_timestamp() }}) as ordered_at,
        quantity,
        amount / quantity as unit_price,
        false as is_cancellation

    from cdnow_transactions

),

unioned as (

    select * from invoice_order_lines
    union all
    select * from event_order_lines
    union all
    select * from cdnow_order_lines

)

select
    order_line_id,
    order_id,
    customer_id,
    product_id,
    source_system,
    source_order_id,
    source_product_id,
    description,
    country,
    ordered_at,
    cast(ordered_at as date) as ordered_on,
    quantity,
    unit_price,
    quantity * unit_price as line_amount,
    is_cancellation,
    customer_id is null as is_guest

from unioned
{% if target.type == 'duckdb' %}
-- stored in key order: DuckDB scans keep insertion order, so the Python models read the lines
-- already sorted (ml/dbt_frames.py), instead of each sorting tens of millions of them again. An
-- increment appends its lines in key order: the invoice lines of a new file that sorts after the
-- loaded ones (as the next part file does) keep their source in order. The event purchases
-- (2% of the lines at 42M events) are out of order after any increment, and so is a source given
-- an early-named file: the models then sort that source as they read it, until a full rebuild.
order by order_line_id
{% endif %}
