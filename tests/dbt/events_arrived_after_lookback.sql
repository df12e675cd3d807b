-- Warns about (and, with store_failures, lists in test_failures) the clean events of this build's
-- increment dated more than var('event_lookback_days') before the newest event loaded earlier.
-- They are not dropped: fct_events reopens their users from their time, so the
-- warehouse is the same as a full rebuild's. A warning says that an export arrived very late (or
-- carries a wrong clock), which an operator may want to know. A full build has no increment.

{{ config(severity='warn') }}

with

new_events as (

    select raw_row_id, raw_file_name, source_user_id, event_at
    from {{ ref('int_events_batch') }}
    where batch_reason = 'new_file'
        and rejection_reason is null

),

loaded_before as (

    select max(event_at) as newest_loaded_at
    from {{ ref('int_events_validated') }}
    where rejection_reason is null
        and raw_file_name not in (select distinct raw_file_name from new_events)

)

select
    new_events.raw_row_id,
    new_events.raw_file_name,
    new_events.source_user_id,
    new_events.event_at,
    loaded_before.newest_loaded_at

from new_events
cross join loaded_before
where new_events.event_at < {{ dbt.dateadd('day', -1 * var('event_lookback_days'), 'loaded_before.newest_loaded_at') }}
