-- Recency, frequency and monetary value of every customer with a purchase, as of var('as_of_date')
-- or, by default, the day after the last order of the customer's source (sources cover different
-- years, so one date for all would make every older shop's customers look lost).
-- Scores run 1 (worst) to 5 (best) by quintile; ties share a score, so equal customers are
-- never split across scores by an arbitrary order.

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
        sum(case when not is_cancellation then 1 else 0 end) as frequency,
        sum(net_amount) as monetary

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

)

select
    customer_id,
    source_system,
    cast(as_of_date as date) as as_of_date,
    last_order_on,
    recency_days,
    frequency,
    monetary,
    recency_score,
    frequency_score,
    monetary_score,
    {{ dbt.concat([
        "cast(recency_score as " ~ dbt.type_string() ~ ")",
        "cast(frequency_score as " ~ dbt.type_string() ~ ")",
        "cast(monetary_score as " ~ dbt.type_string() ~ ")"
    ]) }} as rfm_cell

from scored
