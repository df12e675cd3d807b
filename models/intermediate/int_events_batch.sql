-- The raw event rows this build validates, with their verdict, and why each is in the batch
-- (macros/incremental_batch.sql explains the batch; macros/events_incremental.sql how the event
-- marts take it in). In a full build it is empty and int_events_validated is built from every raw
-- row instead.

-- a table: it is read after int_events_validated has taken it in, and must not change by then
{{ config(materialized='table') }}

{{ incremental_batch(
    staging=ref('stg_events__events'),
    validated_model='int_events_validated',
    duplicate_key=events_duplicate_key(),
    unique_key=['raw_row_id'],
    columns=events_validated_columns(),
    verdict=events_verdict,
    derived_columns=events_derived_columns(),
) }}
