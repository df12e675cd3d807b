-- One row per clean clickstream event, with the session it belongs to.
--
-- Incremental on DuckDB: the reopened users' events from their reopened time on are deleted
-- (pre_hook) and selected again from int_events_sessionized (macros/events_incremental.sql).

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_reopened_events('event_at', 'customer_id', 'customer_id') }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}

with

{% if is_incremental() %}

reopened as (

    {{ events_reopened() }}

),

events as (

    select sessionized.*
    from {{ ref('int_events_sessionized') }} as sessionized
    inner join reopened
        on sessionized.source_user_id = reopened.source_user_id
        and sessionized.event_at >= reopened.reopen_from

)

{% else %}

events as (

    select * from {{ ref('int_events_sessionized') }}

)

{% endif %}

select
    {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as event_id,
    session_id,
    {{ source_key('source_system', 'source_user_id') }} as customer_id,
    {{ source_key('source_system', 'source_product_id') }} as product_id,
    source_system,
    event_type,
    event_at,
    price,
    category_code,
    brand,
    user_session as source_session_id

from events
