-- One row per customer and day of the event log: views, carts, purchases and sessions started,
-- the behaviour features of the customer models (cut at any midnight without reading fct_events).
--
-- Incremental on DuckDB: a reopened user's days from the day of their reopened time on are
-- deleted (pre_hook) and summed again (macros/events_incremental.sql); sessions that started
-- earlier are unchanged by an increment.

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

activity as (

    select fct_customer_product_activity.*
    from {{ ref('fct_customer_product_activity') }} as fct_customer_product_activity
    inner join reopened
        on fct_customer_product_activity.customer_id = reopened.customer_id
        and fct_customer_product_activity.activity_date >= {{ dbt.cast('reopened.reopen_from', 'date') }}

),

sessions as (

    select fct_sessions.*
    from {{ ref('fct_sessions') }} as fct_sessions
    inner join reopened
        on fct_sessions.customer_id = reopened.customer_id
        and {{ dbt.cast('fct_sessions.started_at', 'date') }} >= {{ dbt.cast('reopened.reopen_from', 'date') }}

),

{% else %}

activity as (

    select * from {{ ref('fct_customer_product_activity') }}

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

{% endif %}

activity_days as (

    select
        customer_id,
        activity_date,
        min(source_system) as source_system,
        {{ sum_integers('views') }} as views,
        {{ sum_integers('carts') }} as carts,
        {{ sum_integers('removes_from_cart') }} as removes_from_cart,
        {{ sum_integers('purchases') }} as purchases,
        count(*) as products_touched,
        max(last_event_at) as last_event_at

    from activity
    group by customer_id, activity_date

),

session_days as (

    select
        customer_id,
        {{ dbt.cast('started_at', 'date') }} as activity_date,
        count(*) as sessions_started

    from sessions
    group by customer_id, {{ dbt.cast('started_at', 'date') }}

)

select
    activity_days.*,
    -- a session starts on a day with events, so every session day has an activity row
    coalesce(session_days.sessions_started, 0) as sessions_started

from activity_days
left join session_days
    on activity_days.customer_id = session_days.customer_id
    and activity_days.activity_date = session_days.activity_date
