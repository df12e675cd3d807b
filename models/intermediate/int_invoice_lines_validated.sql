-- Every invoice line with the reason it cannot be used, or null when it is clean
-- (macros/invoice_lines_validation.sql gives the rules).
--
-- Incremental on DuckDB: a build adds the rows of int_invoice_lines_batch (new raw files, and the
-- loaded rows whose verdict they may change), replacing loaded rows by source and raw_row_id; a
-- build without a new invoice file changes nothing here, unless a loaded line is dated in the
-- future (it is checked again). A full build ranks every raw row. Both
-- give the same table (macros/incremental_batch.sql).

{{ config(
    materialized=incremental_materialization(),
    unique_key=['source_system', 'raw_row_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

-- depends_on: {{ ref('int_invoice_lines_batch') }}

{% if is_incremental() %}

select
    {% for column in invoice_lines_validated_columns() %}{{ column }}{{ "," if not loop.last }}
    {% endfor %}
from {{ ref('int_invoice_lines_batch') }}

{% else %}

with

invoice_lines as {{ inlined_cte() }} (

    select * from {{ ref('int_invoice_lines_unioned') }}

),

flagged as (

    -- later copies of a line identical in every raw column are duplicates of the first
    {{ flag_duplicates('invoice_lines', invoice_lines_duplicate_key(), ['source_system', 'raw_row_id']) }}

),

verdict as (

    {{ invoice_lines_verdict('flagged') }}

)

select
    {% for column in invoice_lines_validated_columns() %}{{ column }}{{ "," if not loop.last }}
    {% endfor %}
from verdict

{% endif %}
