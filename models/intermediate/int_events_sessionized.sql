-- Clean events grouped into sessions: a user's new session starts with their first event or after
-- a gap longer than var('session_timeout_minutes'). Derived here rather than trusting the shop's
-- own user_session, so sessions mean the same thing whatever system exported the log.

with

events as (

    select * from {{ ref('int_events_validated') }}
    where rejection_reason is null

),

with_gaps as (

    select
        *,
        {{ dbt.datediff(
            "lag(event_at) over (partition by source_user_id order by event_at, raw_row_id)",
            "event_at",
            "second"
        ) }} as seconds_since_previous_event

    from events

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
        sum(is_session_start) over (
            partition by source_user_id
            order by event_at, raw_row_id
            rows between unbounded preceding and current row
        ) as user_session_number

    from with_session_starts

)

select
    *,
    {{ dbt.concat(["'events:'", "source_user_id", "'#'", "cast(user_session_number as " ~ dbt.type_string() ~ ")"]) }}
        as session_id

from numbered
