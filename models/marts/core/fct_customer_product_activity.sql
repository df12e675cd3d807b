-- One row per customer, product and day of the event log: what the recommenders learn from.
-- A day's events are summed by type, so models read tens of times fewer rows than fct_events and
-- can still cut the history at any midnight (point-in-time training).
--
-- Incremental on DuckDB: a reopened user's days from the day of their reopened time on are
-- deleted (pre_hook) and counted again from fct_events (macros/events_incremental.sql).

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_reopened_events('activity_date', 'customer_id', 'customer_id', "
             "dbt.cast('reopen_from', 'date')) }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}

with

{% if is_incremental() %}

reopened as (

    {{ events_reopened() }}

),

events as (

    select fct_events.*
    from {{ ref('fct_events') }} as fct_events
    inner join reopened
        on fct_events.customer_id = reopened.customer_id
        and {{ dbt.cast('fct_events.event_at', 'date') }} >= {{ dbt.cast('reopened.reopen_from', 'date') }}

)

{% else %}

events as (

    select * from {{ ref('fct_events') }}

)

{% endif %}

select
    customer_id,
    product_id,
    {{ dbt.cast('event_at', 'date') }} as activity_date,
    min(source_system) as source_system,
    {{ count_where("event_type = 'view'") }} as views,
    {{ count_where("event_type = 'cart'") }} as carts,
    {{ count_where("event_type = 'remove_from_cart'") }} as removes_from_cart,
    {{ count_where("event_type = 'purchase'") }} as purchases,
    max(event_at) as last_event_at

from events
group by customer_id, product_id, {{ dbt.cast('event_at', 'date') }}
