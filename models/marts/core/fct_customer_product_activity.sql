-- One row per customer, product and day of the event log: what the recommenders learn from.
-- A day's events are summed by type, so models read tens of times fewer rows than fct_events and
-- can still cut the history at any midnight (point-in-time training).

with

events as (

    select * from {{ ref('fct_events') }}

)

select
    customer_id,
    product_id,
    {{ dbt.cast('event_at', 'date') }} as activity_date,
    min(source_system) as source_system,
    sum(case when event_type = 'view' then 1 else 0 end) as views,
    sum(case when event_type = 'cart' then 1 else 0 end) as carts,
    sum(case when event_type = 'remove_from_cart' then 1 else 0 end) as removes_from_cart,
    sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
    max(event_at) as last_event_at

from events
group by customer_id, product_id, {{ dbt.cast('event_at', 'date') }}
