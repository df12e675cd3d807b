{#-
    fct_order_lines, fct_orders, dim_products and dim_customers are incremental on DuckDB, like the
    event chain (macros/events_incremental.sql) and the invoice-line validation
    (macros/incremental_batch.sql). An increment changes in fct_order_lines:
    - the invoice lines of int_invoice_lines_batch: a line rejected now (a loaded line that a new
      copy made a duplicate) is deleted, a clean line not there yet is added, and a loaded clean
      line that stays clean keeps its place (fct_order_lines is stored in key order for the
      Python models, ml/dbt_frames.py);
    - the event purchases of each reopened user from the reopened time on, deleted and added
      again (events before it keep their session, so their order is unchanged; later ones may
      change session, hence order id);
    - every CDNOW line, deleted and added again: its validation is a small table rebuilt in full
      on every build.
    fct_orders then aggregates again every order with a changed line, and drops the orders left
    without one; dim_products does the same for every product with a line or event in either
    batch, except that an event product which only gained events (clean rows of new files, no
    loaded row checked again, no new event at its loaded latest time) merges its loaded row with
    its new events; dim_customers aggregates again every customer with a line on an invoice of
    the invoice batch, every reopened user, and every CDNOW and profiled customer. So an
    increment gives the same tables as a full rebuild.
-#}

{#- The order_line_id of an invoice line of the batch. -#}
{% macro batch_order_line_id() -%}
    {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }}
{%- endmacro %}


{#- pre_hook of fct_order_lines: delete the invoice lines the batch rejects and every CDNOW line
    (delete_reopened_events deletes the reopened users' purchases). -#}
{% macro delete_rejected_invoice_and_cdnow_lines() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where source_system = 'cdnow'
            or order_line_id in (
                select {{ batch_order_line_id() }}
                from {{ ref('int_invoice_lines_batch') }}
                where rejection_reason is not null
            )
    {%- endif -%}
{%- endmacro %}


{#- The invoices with a line in the batch. -#}
{% macro batch_invoice_order_ids() -%}
    select {{ source_key('source_system', 'invoice_no') }} as order_id
    from {{ ref('int_invoice_lines_batch') }}
    where invoice_no is not null
{%- endmacro %}


{#- The orders whose lines this build rebuilt, as they are after fct_order_lines took the
    increment in. Call it only in incremental runs of models that declare the two batches as
    `-- depends_on:`. -#}
{% macro rebuilt_order_ids() -%}
    {{ batch_invoice_order_ids() }}

    union

    select order_lines.order_id
    from {{ ref('fct_order_lines') }} as order_lines
    inner join ({{ events_reopened() }}) as reopened
        on order_lines.customer_id = reopened.customer_id
        and order_lines.ordered_at >= reopened.reopen_from

    union

    select order_id from {{ ref('fct_order_lines') }} where source_system = 'cdnow'
{%- endmacro %}


{#- The products with a line or an event in this build's batches: the only ones whose lines and
    events an increment may have added or removed (a reopened user's later events are sessionised
    again, which does not change their product). Call it only in incremental runs of models that declare both batches as `-- depends_on:`. -#}
{% macro rebuilt_product_ids() -%}
    select {{ source_key('source_system', 'stock_code') }} as product_id
    from {{ ref('int_invoice_lines_batch') }}
    where stock_code is not null

    union

    select {{ source_key('source_system', 'source_product_id') }} as product_id
    from {{ ref('int_events_batch') }}
    where source_product_id is not null
{%- endmacro %}


{#- The customers whose orders or sessions this build may have changed: those with a line in the
    invoice batch (a line it rejects has left their orders), those with a line on an invoice of
    the batch (a new line on it, a guest's say, changes its totals), and the reopened users.
    CDNOW customers and profiles, from small tables rebuilt in full on every build, are
    aggregated again always. -#}
{% macro rebuilt_customer_ids() -%}
    select {{ source_key('source_system', 'source_customer_id') }} as customer_id
    from {{ ref('int_invoice_lines_batch') }}
    where source_customer_id is not null

    union

    select customer_id
    from {{ ref('fct_order_lines') }}
    where customer_id is not null
        and order_id in ({{ batch_invoice_order_ids() }})

    union

    select customer_id from ({{ events_reopened() }}) as reopened
{%- endmacro %}


{#- pre_hook of fct_orders, dim_products and dim_customers: delete the rows whose `key_column`
    is among `rebuilt_ids` (a select of one column) but not among `kept_ids` (rows the model
    reads and replaces), and every row of the `whole_sources`, which the model selects again in
    full. -#}
{% macro delete_rebuilt_rows(key_column, rebuilt_ids, whole_sources, kept_ids=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where source_system in ({{ string_literals(whole_sources) }})
            or ({{ key_column }} in ({{ rebuilt_ids }})
                {%- if kept_ids %}
                and {{ key_column }} not in ({{ kept_ids }})
                {%- endif %})
    {%- endif -%}
{%- endmacro %}


{#- The clean events of the batch's new files, as fct_events holds them (the columns dim_products
    reads). -#}
{% macro new_clean_events() -%}
    select
        {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as event_id,
        {{ source_key('source_system', 'source_product_id') }} as product_id,
        source_system,
        event_at,
        price,
        category_code,
        brand

    from {{ ref('int_events_batch') }}
    where batch_reason = 'new_file'
        and rejection_reason is null
{%- endmacro %}


{#- The event products that only gained events in this build: those with a clean event in a new
    file and no loaded event checked again (a loaded event that a new copy made a duplicate leaves
    its product). dim_products merges their loaded row with their new events. -#}
{% macro gaining_event_product_ids() -%}
    select product_id from ({{ new_clean_events() }}) as new_events

    except

    select {{ source_key('source_system', 'source_product_id') }} as product_id
    from {{ ref('int_events_batch') }}
    where batch_reason <> 'new_file'
        and source_product_id is not null
{%- endmacro %}
