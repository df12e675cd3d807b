-- One row per product of every source. Invoice products take their most frequent description and
-- price; event-log products their category, brand and most recent price.
--
-- Incremental on DuckDB (macros/order_lines_incremental.sql): an event product that only gained
-- events in the increment (rows of new files) is its loaded row merged with its new events, so an
-- increment reads its own events, not every event of the products it touches. Every other product
-- with a line or event in the increment is deleted (pre_hook) and aggregated again from all its
-- lines or events.

{{ config(
    materialized=incremental_materialization(),
    unique_key='product_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ delete_rebuilt_rows('product_id', rebuilt_product_ids(), ['cdnow'],
                                     kept_ids=gaining_event_product_ids()) }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}
-- depends_on: {{ ref('int_invoice_lines_batch') }}

-- a full build reads all the lines and all the events, each through an import CTE read three
-- times: inlined, so each read scans its own columns (an increment's imports are its products'
-- rows alone)
{% set full_table_import = inlined_cte() if not is_incremental() else '' %}

with

{% if is_incremental() %}

rebuilt_products as (

    {{ rebuilt_product_ids() }}

),

new_events as (

    {{ new_clean_events() }}

),

gaining_products as (

    {{ gaining_event_product_ids() }}

),

-- a new event at a product's loaded latest time: the tie goes by event_id, which the row does not
-- keep, so the product is aggregated again
tied_products as (

    select loaded.product_id
    from {{ this }} as loaded
    inner join new_events on loaded.product_id = new_events.product_id
    where loaded.last_seen_at = new_events.event_at

),

merged_products as (

    select product_id from gaining_products
    except
    select product_id from tied_products

),

{% endif %}

invoice_lines as {{ full_table_import }} (

    select * from {{ ref('fct_order_lines') }}
    where source_system in ('online_retail', 'online_retail_ii')
    {% if is_incremental() %}
        and product_id in (select product_id from rebuilt_products)
    {% endif %}

),

events as {{ full_table_import }} (

    {% if is_incremental() %}
    -- every event of a product aggregated again, the new events alone of a merged one
    select event_id, product_id, source_system, event_at, price, category_code, brand
    from {{ ref('fct_events') }}
    where product_id in (select product_id from rebuilt_products)
        and product_id not in (select product_id from merged_products)

    union all

    select event_id, product_id, source_system, event_at, price, category_code, brand
    from new_events
    where product_id in (select product_id from merged_products)
    {% else %}
    select * from {{ ref('fct_events') }}
    {% endif %}

),

cdnow_lines as (

    select * from {{ ref('fct_order_lines') }}
    where source_system = 'cdnow'

),

invoice_descriptions as (

    select
        product_id,
        description,
        row_number() over (
            partition by product_id order by count(*) desc, description
        ) as popularity_rank

    from invoice_lines
    where description is not null
    group by product_id, description

),

invoice_prices as (

    select
        product_id,
        unit_price,
        row_number() over (
            partition by product_id order by count(*) desc, unit_price
        ) as popularity_rank

    from invoice_lines
    group by product_id, unit_price

),

invoice_products as (

    select
        invoice_lines.product_id,
        min(invoice_lines.source_system) as source_system,
        min(invoice_lines.source_product_id) as source_product_id,
        min(invoice_descriptions.description) as description,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ dbt.type_string() }}) as brand,
        min(invoice_prices.unit_price) as unit_price,
        min(invoice_lines.ordered_at) as first_seen_at,
        max(invoice_lines.ordered_at) as last_seen_at

    from invoice_lines
    left join invoice_descriptions
        on invoice_lines.product_id = invoice_descriptions.product_id
        and invoice_descriptions.popularity_rank = 1
    left join invoice_prices
        on invoice_lines.product_id = invoice_prices.product_id
        and invoice_prices.popularity_rank = 1
    group by invoice_lines.product_id

),

-- the latest event of each product (ties: the highest event_id) gives its category, brand and
-- price; aggregates and joins rather than a window, which would sort every event
event_times as (

    select product_id, min(event_at) as first_seen_at, max(event_at) as last_seen_at
    from events
    group by product_id

),

latest_event_ids as (

    select events.product_id, max(events.event_id) as event_id
    from events
    inner join event_times
        on events.product_id = event_times.product_id
        and events.event_at = event_times.last_seen_at
    group by events.product_id

),

event_products as (

    select
        latest.product_id,
        latest.source_system,
        {{ dbt.split_part('latest.product_id', "':'", 2) }} as source_product_id,
        latest.category_code as description,
        latest.category_code as category,
        latest.brand,
        latest.price as unit_price,
        event_times.first_seen_at,
        event_times.last_seen_at

    from events as latest
    inner join latest_event_ids on latest.event_id = latest_event_ids.event_id
    inner join event_times on latest.product_id = event_times.product_id

),

cdnow_products as (

    select
        product_id,
        min(source_system) as source_system,
        min(source_product_id) as source_product_id,
        'Compact disc (title not recorded)' as description,
        'music.cd' as category,
        cast(null as {{ dbt.type_string() }}) as brand,
        -- an exact decimal mean, so two builds give the same digits (see fct_orders)
        cast(avg(cast(unit_price as decimal(38, 6))) as double) as unit_price,
        min(ordered_at) as first_seen_at,
        max(ordered_at) as last_seen_at

    from cdnow_lines
    group by product_id

),

-- in an increment, a merged product takes its loaded row or its new events' row, whichever has the
-- later latest event
event_products_merged as (

    {% if is_incremental() %}
    select
        new.product_id,
        new.source_system,
        new.source_product_id,
        {% for column in ['description', 'category', 'brand', 'unit_price'] -%}
        case when loaded.last_seen_at > new.last_seen_at then loaded.{{ column }} else new.{{ column }}
        end as {{ column }},
        {% endfor -%}
        case when loaded.first_seen_at < new.first_seen_at then loaded.first_seen_at
            else new.first_seen_at end as first_seen_at,
        case when loaded.last_seen_at > new.last_seen_at then loaded.last_seen_at
            else new.last_seen_at end as last_seen_at

    from event_products as new
    left join {{ this }} as loaded
        on new.product_id = loaded.product_id
        and loaded.product_id in (select product_id from merged_products)
    {% else %}
    select * from event_products
    {% endif %}

)

select * from invoice_products
union all
select * from event_products_merged
union all
select * from cdnow_products
