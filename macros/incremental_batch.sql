{#-
    Incremental validation by raw file, shared by the event chain (int_events_batch) and the
    invoice-line chain (int_invoice_lines_batch). A validated model is incremental on DuckDB: each
    build validates only its batch and replaces those rows (by unique key) in the table built so
    far. The batch of a build:

    new_file           every row of a raw file not loaded yet (files are told apart by source
                       system and name: both invoice exports have a part-00000.parquet);
    duplicate_recheck  an already-loaded row identical in every raw column to a new row: the copies
                       are ranked together by raw_row_id, so the earliest keeps its place whatever
                       build loaded it;
    date_recheck       an already-loaded row quarantined as date_in_future, checked again against
                       the day after this build's start.

    In a full build (no validated table yet, --full-refresh, or the spark target) the batch is
    empty and the validated model ranks every raw row instead. Both give the same table.
-#}

{#- incremental on DuckDB; a plain table, rebuilt in full, elsewhere -#}
{% macro incremental_materialization() -%}
    {{ return('incremental' if target.type == 'duckdb' else 'table') }}
{%- endmacro %}


{#- The relation of a validated model as built so far, looked up without ref() (its batch model
    runs before it): none when it is absent, or not a table yet. -#}
{% macro validated_relation(model_name) -%}
    {%- set node = graph.nodes.get('model.globalshop.' ~ model_name) -%}
    {%- if node is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=node.database, schema=node.schema,
                                            identifier=node.alias) -%}
    {{ return(relation if relation is not none and relation.is_table else none) }}
{%- endmacro %}


{#- True when this build adds a batch to `model_name` rather than rebuilding it: the same test as
    that model's is_incremental(). -#}
{% macro build_is_incremental(model_name) -%}
    {{ return(execute and incremental_materialization() == 'incremental' and not flags.FULL_REFRESH
              and validated_relation(model_name) is not none) }}
{%- endmacro %}


{#- The select of a batch model. `staging`: the raw rows (with raw_file_name and source_system);
    `duplicate_key`: the raw columns that make two rows exact duplicates; `unique_key`: the
    validated model's key; `columns`: its columns, in order; `verdict`: the macro that gives
    rows of staging columns plus is_duplicate their rejection_reason and the model's other
    `derived_columns` (is_duplicate, rejection_reason and raw_record among them). -#}
{% macro incremental_batch(staging, validated_model, duplicate_key, unique_key, columns, verdict,
                           derived_columns) -%}

{% if build_is_incremental(validated_model) %}

{% set validated = validated_relation(validated_model) %}
{% set loaded_files = {} %}
{% for source_system, file_name in run_query(
        "select distinct source_system, raw_file_name from " ~ validated
        ~ " where raw_file_name is not null order by 1, 2").rows %}
    {% do loaded_files.setdefault(source_system, []).append(file_name) %}
{% endfor %}

with

new_rows as (

    -- a filter on constant file names: DuckDB opens only the new files
    select * from {{ staging }}
    {% if loaded_files %}
    where source_system not in ({{ string_literals(loaded_files.keys()) }})
    {%- for source_system, file_names in loaded_files.items() %}
        or (source_system = {{ dbt.string_literal(source_system) }}
            and raw_file_name not in ({{ string_literals(file_names) }}))
    {%- endfor %}
    {% endif %}

),

loaded as (

    select * exclude ({{ derived_columns | join(', ') }}) from {{ validated }}

),

new_keys as (

    select distinct {{ duplicate_key | join(', ') }} from new_rows

),

loaded_twins as (

    select loaded.*
    from loaded
    semi join new_keys on
        {% for column in duplicate_key -%}
        loaded.{{ column }} is not distinct from new_keys.{{ column }}{{ " and " if not loop.last }}
        {%- endfor %}

),

ranked as (

    select
        *,
        row_number() over (partition by {{ duplicate_key | join(', ') }} order by raw_row_id) > 1
            as is_duplicate

    from (
        select *, 'new_file' as batch_reason from new_rows
        union all by name
        select *, 'duplicate_recheck' as batch_reason from loaded_twins
    )

),

future_dated as (

    select * exclude ({{ derived_columns | reject('equalto', 'is_duplicate') | join(', ') }}),
        'date_recheck' as batch_reason
    from {{ validated }}
    anti join loaded_twins using ({{ unique_key | join(', ') }})
    where rejection_reason = 'date_in_future'

),

batch as (

    select * from ranked
    union all by name
    select * from future_dated

),

verdict as (

    {{ verdict('batch') }}

)

select
    {% for column in columns %}{{ column }}, {% endfor %}
    batch_reason

from verdict

{% else %}

with

no_rows as (

    select *, cast(null as boolean) as is_duplicate
    from {{ staging }}
    where 1 = 0

),

verdict as (

    {{ verdict('no_rows') }}

)

select
    {% for column in columns %}{{ column }}, {% endfor %}
    cast(null as {{ dbt.type_string() }}) as batch_reason

from verdict

{% endif %}

{%- endmacro %}


{#- Text values as a comma-separated list of SQL string literals. -#}
{% macro string_literals(values) -%}
    {%- for value in values %}{{ dbt.string_literal(value) }}{{ ", " if not loop.last }}{% endfor -%}
{%- endmacro %}
