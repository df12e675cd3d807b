-- The raw event rows this build validates, with their verdict, and why each is in the batch
-- (macros/events_incremental.sql explains how an increment is processed). In a full build
-- (no int_events_validated table yet, --full-refresh, or the spark target) it is empty and
-- int_events_validated is built from every raw row instead.
--
-- In an incremental build:
--   new_file           every row of a raw file whose name is not in int_events_validated yet;
--   duplicate_recheck  an already-loaded row identical in every raw column to a new row: the copies
--                      are ranked together by raw_row_id, so the earliest keeps its place whatever
--                      build loaded it;
--   date_recheck       an already-loaded row quarantined as date_in_future, checked again against
--                      the day after this build's start.

-- a table: it is read after int_events_validated has taken it in, and must not change by then
{{ config(materialized='table') }}

{% set key = events_duplicate_key() %}

{% if events_build_is_incremental() %}

{% set validated = events_validated_relation() %}
{% set loaded_files = run_query("select distinct raw_file_name from " ~ validated
                                ~ " where raw_file_name is not null order by 1").columns[0].values() %}

with

new_rows as (

    -- a filter on constant file names: DuckDB opens only the new files
    select * from {{ ref('stg_events__events') }}
    {% if loaded_files | length > 0 %}
    where raw_file_name not in (
        {%- for file_name in loaded_files %}{{ dbt.string_literal(file_name) }}{{ ", " if not loop.last }}{% endfor -%}
    )
    {% endif %}

),

loaded as (

    select * exclude (is_duplicate, rejection_reason, raw_record) from {{ validated }}

),

new_keys as (

    select distinct {{ key | join(', ') }} from new_rows

),

loaded_twins as (

    select loaded.*
    from loaded
    semi join new_keys on
        {% for column in key -%}
        loaded.{{ column }} is not distinct from new_keys.{{ column }}{{ " and " if not loop.last }}
        {%- endfor %}

),

ranked as (

    select
        *,
        row_number() over (partition by {{ key | join(', ') }} order by raw_row_id) > 1 as is_duplicate

    from (
        select *, 'new_file' as batch_reason from new_rows
        union all by name
        select *, 'duplicate_recheck' as batch_reason from loaded_twins
    )

),

future_dated as (

    select * exclude (rejection_reason, raw_record), 'date_recheck' as batch_reason
    from {{ validated }}
    where rejection_reason = 'date_in_future'
        and raw_row_id not in (select raw_row_id from loaded_twins)

),

batch as (

    select * from ranked
    union all by name
    select * from future_dated

),

verdict as (

    {{ events_verdict('batch') }}

)

select
    {% for column in events_validated_columns() %}{{ column }}, {% endfor %}
    batch_reason

from verdict

{% else %}

with

no_rows as (

    select *, cast(null as boolean) as is_duplicate
    from {{ ref('stg_events__events') }}
    where 1 = 0

),

verdict as (

    {{ events_verdict('no_rows') }}

)

select
    {% for column in events_validated_columns() %}{{ column }}, {% endfor %}
    cast(null as {{ dbt.type_string() }}) as batch_reason

from verdict

{% endif %}
