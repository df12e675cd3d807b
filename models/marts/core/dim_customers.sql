-- One row per customer of every source: buyers from the order lines, visitors from the event log
-- and profiled customers. Keys carry the source system, so no customer is counted twice.
--
-- Incremental on DuckDB: the customers an increment may change are deleted (pre_hook) and
-- aggregated again from all their orders and sessions (macros/order_lines_incremental.sql).

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_rebuilt_rows('customer_id', rebuilt_customer_ids(),"
             " ['cdnow', 'customer_profiles']) }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}
-- depends_on: {{ ref('int_invoice_lines_batch') }}
-- depends_on: {{ ref('fct_order_lines') }}

with

{% if is_incremental() %}

rebuilt_customers as (

    {{ rebuilt_customer_ids() }}

),

{% endif %}

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null
    {% if is_incremental() %}
        and (source_system = 'cdnow'
            or customer_id in (select customer_id from rebuilt_customers))
    {% endif %}

),

sessions as (

    select * from {{ ref('fct_sessions') }}
    {% if is_incremental() %}
    where customer_id in (select customer_id from rebuilt_customers)
    {% endif %}

),

profiles as (

    select * from {{ ref('dim_customer_profiles') }}

),

order_summary as (

    select
        customer_id,
        min(source_system) as source_system,
        max(country) as country,
        min(case when not is_cancellation then ordered_at end) as first_order_at,
        max(case when not is_cancellation then ordered_at end) as last_order_at,
        {{ count_where("not is_cancellation") }} as order_count,
        {{ count_where("is_cancellation") }} as cancellation_count,
        -- exact decimal sums, so two builds give the same digits (see fct_orders)
        cast(sum(cast(gross_amount as decimal(38, 6))) as double) as gross_revenue,
        cast(sum(cast(net_amount as decimal(38, 6))) as double) as net_revenue

    from orders
    group by customer_id

),

session_summary as (

    select
        customer_id,
        min(source_system) as source_system,
        min(started_at) as first_seen_at,
        max(ended_at) as last_seen_at,
        count(*) as session_count,
        {{ sum_integers('event_count') }} as event_count

    from sessions
    group by customer_id

),

all_customers as (

    select customer_id, source_system from order_summary
    union
    select customer_id, source_system from session_summary
    union
    select customer_id, source_system from profiles

)

select
    all_customers.customer_id,
    all_customers.source_system,
    {{ dbt.split_part('all_customers.customer_id', "':'", 2) }} as source_customer_id,
    order_summary.country,
    order_summary.first_order_at,
    order_summary.last_order_at,
    coalesce(order_summary.order_count, 0) as order_count,
    coalesce(order_summary.cancellation_count, 0) as cancellation_count,
    coalesce(order_summary.gross_revenue, 0) as gross_revenue,
    coalesce(order_summary.net_revenue, 0) as net_revenue,
    session_summary.first_seen_at,
    session_summary.last_seen_at,
    coalesce(session_summary.session_count, 0) as session_count,
    coalesce(session_summary.event_count, 0) as event_count,
    profiles.customer_id is not null as has_profile

from all_customers
left join order_summary on all_customers.customer_id = order_summary.customer_id
left join session_summary on all_customers.customer_id = session_summary.customer_id
left join profiles on all_customers.customer_id = profiles.customer_id
