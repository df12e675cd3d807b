-- Recency, frequency and monetary value of every customer with a purchase, as of var('as_of_date')
-- or, by default, the day after the last order of the customer's source (sources cover different
-- years, so one date for all would make every older shop's customers look lost).
-- Scores run 1 (worst) to 5 (best) by quintile; ties share a score, so equal customers are
-- never split across scores by an arbitrary order. Segments come from the seed rfm_segment_map.

with

orders as (

    select * from {{ ref('fct_orders') }}
    where customer_id is not null

),

as_of_dates as (

    select
        source_system,
        {% if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
        {{ dbt.dateadd('day', 1, 'max(ordered_on)') }}
        {%- endif %} as as_of_date

    from orders
    group by source_system

),

orders_before_as_of as (

    select orders.*, as_of_dates.as_of_date
    from orders
    inner join as_of_dates on orders.source_system = as_of_dates.source_system
    where orders.ordered_on < as_of_dates.as_of_date

),

customer_values as (

    select
        customer_id,
        min(source_system) as source_system,
        min(as_of_date) as as_of_date,
        max(case when not is_cancellation then ordered_on end) as last_order_on,
        {{ count_where("not is_cancellation") }} as frequency,
        -- an exact decimal sum, so two builds give the same digits (see fct_orders)
        cast(sum(cast(net_amount as decimal(38, 6))) as double) as monetary

    from orders_before_as_of
    group by customer_id

),

with_recency as (

    select
        *,
        {{ dbt.datediff('last_order_on', 'as_of_date', 'day') }} as recency_days

    from customer_values
    -- customers whose only orders are cancellations have no purchase to score
    where frequency > 0

),

scored as (

    select
        *,
        {{ quintile_score('recency_days', descending=true) }} as recency_score,
        {{ quintile_score('frequency') }} as frequency_score,
        {{ quintile_score('monetary') }} as monetary_score

    from with_recency

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

segments as (

    select * from {{ ref('rfm_segments') }}

)

select
    scored.customer_id,
    scored.source_system,
    cast(scored.as_of_date as date) as as_of_date,
    scored.last_order_on,
    scored.recency_days,
    scored.frequency,
    scored.monetary,
    scored.recency_score,
    scored.frequency_score,
    scored.monetary_score,
    {{ dbt.concat([
        "cast(scored.recency_score as " ~ dbt.type_string() ~ ")",
        "cast(scored.frequency_score as " ~ dbt.type_string() ~ ")",
        "cast(scored.monetary_score as " ~ dbt.type_string() ~ ")"
    ]) }} as rfm_cell,
    segment_map.segment as rfm_segment,
    segments.segment_order as rfm_segment_order,
    segments.suggested_action

from scored
left join segment_map
    on scored.recency_score = segment_map.recency_score
    and scored.frequency_score = segment_map.frequency_score
left join segments on segment_map.segment = segments.segment
