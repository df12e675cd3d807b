-- Clean events grouped into sessions: a user's new session starts with their first event or after
-- a gap longer than var('session_timeout_minutes'). Derived here rather than trusting the shop's
-- own user_session, so sessions mean the same thing whatever system exported the log. A session's
-- id is its user and the time of its first event, so it does not depend on what came before.
--
-- Incremental on DuckDB: the users of an increment are reopened from their earliest new event
-- (events_reopened); their rows from then on are deleted (pre_hook) and built again here,
-- continuing from their last earlier event ("carried"), so the table equals a full build's.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_reopened_events('event_at', 'source_user_id', 'source_user_id') }}"
) }}

-- depends_on: {{ ref('int_events_batch') }}

-- only what the marts read: the windows below sort every column they carry
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

-- each reopened user's last event before the reopened time, as built so far (events at the same
-- time are in the same session, so its time identifies its session)
carried as (

    select
        built.source_user_id,
        max(built.event_at) as event_at,
        max_by(built.session_started_at, built.event_at) as session_started_at,
        max_by(built.user_session_number, built.event_at) as user_session_number

    from {{ this }} as built
    inner join reopened
        on built.source_user_id = reopened.source_user_id
        and built.event_at < reopened.reopen_from
    group by built.source_user_id

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
        cast(null as {{ dbt.type_timestamp() }}) as session_started_at,
        cast(null as {{ dbt.type_bigint() }}) as user_session_number

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
        carried.session_started_at as carried_session_started_at,
        coalesce(carried.user_session_number, 0) as carried_session_number

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

numbered as (

    select
        *,
        carried_session_number + sum(is_session_start) over (
            partition by source_user_id
            order by event_at, raw_row_id
            rows between unbounded preceding and current row
        ) as user_session_number,
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
    {% for column in event_columns %}{{ column }},
    {% endfor -%}
    seconds_since_previous_event,
    is_session_start,
    user_session_number,
    session_started_at,
    {{ dbt.concat(["'events:'", "source_user_id", "'#'", "cast(session_started_at as " ~ dbt.type_string() ~ ")"]) }}
        as session_id

from numbered
