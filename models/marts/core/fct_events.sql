-- One row per clean clickstream event, with the session it belongs to: a user's new session
-- starts with their first event or after a gap longer than var('session_timeout_minutes').
-- Derived here rather than trusting the shop's own user_session, so sessions mean the same thing
-- whatever system exported the log. A session's id is its user and the time of its first event,
-- so it does not depend on what came before.
--
-- Sessions are found in the same query that writes the mart: at 42M events a separate
-- sessionized table cost a second write of every event (115-125 s against 72-76 s for the two
-- steps as one, BENCHMARKS.md, issue 6, item 34).
--
-- Incremental on DuckDB: the users of an increment are reopened from their earliest new event
-- (events_reopened); their events from then on are deleted (pre_hook) and sessionized again here,
-- continuing from their last earlier event ("carried"), so the table equals a full build's.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_reopened_events('event_at', 'customer_id', 'customer_id') }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}

-- only what the mart needs: the windows below sort every column they carry
{% set event_columns = ['raw_row_id', 'source_system', 'source_user_id', 'source_product_id',
                        'user_session', 'event_type', 'category_code', 'brand', 'price',
                        'event_at'] %}

with

{% if is_incremental() %}

reopened as (

    {{ events_reopened() }}

),

events as (

    select {% for column in event_columns %}validated.{{ column }}{{ ", " if not loop.last }}{% endfor %}
    from {{ ref('int_events_validated') }} as validated
    inner join reopened
        on validated.source_user_id = reopened.source_user_id
        and validated.event_at >= reopened.reopen_from
    where validated.rejection_reason is null

),

-- each reopened user's sessions before the reopened time, as built so far
built_sessions as (

    select
        reopened.source_user_id,
        built.session_id,
        min(built.event_at) as started_at,
        max(built.event_at) as ended_at

    from {{ this }} as built
    inner join reopened
        on built.customer_id = reopened.customer_id
        and built.event_at < reopened.reopen_from
    group by reopened.source_user_id, built.session_id

),

-- the last of them (a user's sessions do not overlap): its last event, and when it started
carried as (

    select
        source_user_id,
        max(ended_at) as event_at,
        max(started_at) as session_started_at

    from built_sessions
    group by source_user_id

),

{% else %}

events as (

    select {{ event_columns | join(', ') }}
    from {{ ref('int_events_validated') }}
    where rejection_reason is null

),

-- nothing carried over; not read from events, which DuckDB would then materialize (a CTE read
-- twice): at 42M events that held every event's columns for the window
carried as (

    select
        cast(null as {{ dbt.type_string() }}) as source_user_id,
        cast(null as {{ dbt.type_timestamp() }}) as event_at,
        cast(null as {{ dbt.type_timestamp() }}) as session_started_at

    from (select 1 as placeholder) as no_rows
    where 1 = 0

),

{% endif %}

with_gaps as (

    select
        events.*,
        {{ dbt.datediff(
            "coalesce(lag(events.event_at) over (partition by events.source_user_id order by events.event_at, events.raw_row_id), carried.event_at)",
            "events.event_at",
            "second"
        ) }} as seconds_since_previous_event,
        carried.session_started_at as carried_session_started_at

    from events
    left join carried on events.source_user_id = carried.source_user_id

),

with_session_starts as (

    select
        *,
        case
            when seconds_since_previous_event is null then 1
            when seconds_since_previous_event > {{ var('session_timeout_minutes') }} * 60 then 1
            else 0
        end as is_session_start

    from with_gaps

),

sessionized as (

    select
        *,
        coalesce(
            max(case when is_session_start = 1 then event_at end) over (
                partition by source_user_id
                order by event_at, raw_row_id
                rows between unbounded preceding and current row
            ),
            carried_session_started_at
        ) as session_started_at

    from with_session_starts

)

select
    {{ dbt.concat(["source_system", "':'", "raw_row_id"]) }} as event_id,
    {{ dbt.concat(["'events:'", "source_user_id", "'#'", "cast(session_started_at as " ~ dbt.type_string() ~ ")"]) }}
        as session_id,
    {{ source_key('source_system', 'source_user_id') }} as customer_id,
    {{ source_key('source_system', 'source_product_id') }} as product_id,
    source_system,
    event_type,
    event_at,
    price,
    category_code,
    brand,
    user_session as source_session_id

from sessionized
