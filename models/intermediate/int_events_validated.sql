-- Every event with the reason it cannot be used, or null when it is clean. A line cut short
-- (as the last line of a truncated export) shows up here as a missing user_session. Times must
-- fall between var('shop_opened_on') and the day after the build started.

{% set shop_opened_on = "cast('" ~ var('shop_opened_on', '1990-01-01') ~ "' as date)" %}
{% set latest_valid_date = "cast('" ~ (run_started_at + modules.datetime.timedelta(days=1)).strftime('%Y-%m-%d') ~ "' as date)" %}
{% set non_finite_doubles = "cast('NaN' as double), cast('Infinity' as double), cast('-Infinity' as double)" %}

with

events as (

    select * from {{ ref('stg_events__events') }}

),

flagged as (

    select
        *,
        row_number() over (
            partition by
                event_at_text, event_type, product_id_text, source_category_id, category_code,
                brand, price_text, user_id_text, user_session
            order by raw_row_id
        ) > 1 as is_duplicate

    from events

),

validated as (

    select
        *,
        case
            when user_id_text is null then 'missing_user_id'
            when source_user_id is null then 'unreadable_user_id'
            when user_session is null then 'missing_user_session'
            when event_at is null then 'unreadable_event_time'
            when cast(event_at as date) > {{ latest_valid_date }} then 'date_in_future'
            when cast(event_at as date) < {{ shop_opened_on }} then 'date_before_shop_opened'
            when event_type is null
                or event_type not in ('view', 'cart', 'remove_from_cart', 'purchase')
                then 'unknown_event_type'
            when source_product_id is null then 'missing_product_id'
            when price is null then 'unreadable_price'
            when price in ({{ non_finite_doubles }}) then 'non_finite_price'
            when price < 0 then 'negative_price'
            when event_type = 'purchase' and price = 0 then 'non_positive_price'
            when is_duplicate then 'duplicate_event'
        end as rejection_reason,
        {{ dbt.concat([
            "coalesce(event_at_text, '')", "'|'", "coalesce(event_type, '')", "'|'",
            "coalesce(product_id_text, '')", "'|'", "coalesce(source_category_id, '')", "'|'",
            "coalesce(category_code, '')", "'|'", "coalesce(brand, '')", "'|'",
            "coalesce(price_text, '')", "'|'", "coalesce(user_id_text, '')", "'|'",
            "coalesce(user_session, '')"
        ]) }} as raw_record

    from flagged

)

select * from validated
