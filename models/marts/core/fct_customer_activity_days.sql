-- One row per customer and day of the event log: views, carts, purchases and sessions started,
-- the behaviour features of the customer models (cut at any midnight without reading fct_events).

with

activity as (

    select * from {{ ref('fct_customer_product_activity') }}

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

activity_days as (

    select
        customer_id,
        activity_date,
        min(source_system) as source_system,
        sum(views) as views,
        sum(carts) as carts,
        sum(removes_from_cart) as removes_from_cart,
        sum(purchases) as purchases,
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
