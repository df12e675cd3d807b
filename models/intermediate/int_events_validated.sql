-- Every event with the reason it cannot be used, or null when it is clean. A line cut short
-- (as the last line of a truncated export) shows up here as a missing user_session. Times must
-- fall between var('shop_opened_on') and the day after the build started.
--
-- Incremental on DuckDB: a build adds the rows of int_events_batch (new raw files, and the loaded
-- rows whose verdict they may change), replacing loaded rows by raw_row_id. A full build ranks
-- every raw row. Both give the same table (macros/events_incremental.sql).

{{ config(
    materialized=incremental_materialization(),
    unique_key='raw_row_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

-- depends_on: {{ ref('int_events_batch') }}

{% if is_incremental() %}

select
    {% for column in events_validated_columns() %}{{ column }}{{ "," if not loop.last }}
    {% endfor %}
from {{ ref('int_events_batch') }}

{% else %}

with

events as {{ inlined_cte() }} (

    select * from {{ ref('stg_events__events') }}

),

flagged as (

    {{ flag_duplicates('events', events_duplicate_key(), ['raw_row_id']) }}

)

{{ events_verdict('flagged') }}

{% endif %}
