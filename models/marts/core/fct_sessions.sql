-- One row per browsing session, with the view -> cart -> purchase funnel it reached.
--
-- Incremental on DuckDB: a reopened user's sessions that ended less than
-- var('session_timeout_minutes') before the reopened time, or later, are deleted (pre_hook; a new
-- event may extend them) and aggregated again from fct_events, with every session of the user
-- that has an event in that span (macros/events_incremental.sql).

{% set reopened_window_start = dbt.dateadd('minute', -1 * var('session_timeout_minutes'), 'reopen_from') %}

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_reopened_events('ended_at', 'customer_id', 'customer_id', "
             "dbt.dateadd('minute', -1 * var('session_timeout_minutes'), 'reopen_from')) }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}

with

{% if is_incremental() %}

reopened as (

    {{ events_reopened() }}

),

reopened_events as (

    select fct_events.*, reopened.reopen_from
    from {{ ref('fct_events') }} as fct_events
    inner join reopened on fct_events.customer_id = reopened.customer_id

),

touched_sessions as (

    select distinct session_id
    from reopened_events
    where event_at >= {{ reopened_window_start }}

),

events as (

    select *
    from reopened_events
    where session_id in (select session_id from touched_sessions)

),

{% else %}

events as (

    select * from {{ ref('fct_events') }}

),

{% endif %}

sessions as (

    select
        session_id,
        min(customer_id) as customer_id,
        min(source_system) as source_system,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as event_count,
        count(distinct product_id) as distinct_product_count,
        {{ count_where("event_type = 'view'") }} as view_count,
        {{ count_where("event_type = 'cart'") }} as cart_count,
        {{ count_where("event_type = 'remove_from_cart'") }} as remove_from_cart_count,
        {{ count_where("event_type = 'purchase'") }} as purchase_count,
        -- an exact decimal sum, so two builds give the same digits (see fct_orders)
        cast(sum(cast(case when event_type = 'purchase' then price else 0 end as decimal(38, 6))) as double) as purchase_amount

    from events
    group by session_id

)

select
    *,
    {{ dbt.datediff('started_at', 'ended_at', 'second') }} as duration_seconds,
    view_count > 0 as has_view,
    cart_count > 0 as has_cart,
    purchase_count > 0 as has_purchase,
    -- funnel stages are cumulative: a purchase without a cart event still passed the cart stage
    case
        when purchase_count > 0 then 'purchase'
        when cart_count > 0 then 'cart'
        else 'view'
    end as funnel_stage

from sessions
