-- One row per clean clickstream event, with the session it belongs to.

with

events as (

    select * from {{ ref('int_events_sessionized') }}

)

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
