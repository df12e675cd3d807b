-- One row per clean order line from every source: invoice lines (cancellations included, with
-- negative quantities), purchases in the event log, and CDNOW transactions. Lines with no customer
-- id are kept as guest lines (customer_id null), so revenue totals stay whole.

with

invoice_lines as (

    select * from {{ ref('int_invoice_lines_validated') }}
    where rejection_reason is null

),

event_purchases as (

    select * from {{ ref('int_events_sessionized') }}
    where event_type = 'purchase'

),

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
        {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as order_line_id,
        -- a session's purchases form one order
        session_id as order_id,
        {{ source_key('source_system', 'source_user_id') }} as customer_id,
        {{ source_key('source_system', 'source_product_id') }} as product_id,
        source_system,
        session_id as source_order_id,
        source_product_id,
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
-- already sorted (ml/dbt_frames.py), instead of each sorting tens of millions of them again
order by order_line_id
{% endif %}
