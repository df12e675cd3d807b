{#-
    The relation of a raw source table, or an empty relation with the documented columns when no
    file is present, so a shop with only invoices (or only events) still builds. Staging models
    call this instead of source() directly; source() is still called, so lineage is kept.
-#}
{% macro raw_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = graph.sources.values()
        | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name)
        | first -%}
    {%- if raw_files_exist(node) -%}
        {{ return(raw_relation(relation, node)) }}
    {%- endif -%}
    {{ exceptions.warn("No raw files for source " ~ source_name ~ "." ~ table_name ~ " under "
        ~ raw_location(node) ~ ": it builds empty. Import a file with `globalshop data import`.") }}
    {%- set columns = [] -%}
    {%- for column in node.columns.values() -%}
        {%- do columns.append("cast(null as " ~ column.data_type ~ ") as " ~ adapter.quote(column.name)) -%}
    {%- endfor -%}
    {%- do columns.append("cast(null as " ~ dbt.type_string() ~ ") as filename") -%}
    {%- do columns.append("cast(null as " ~ dbt.type_bigint() ~ ") as file_row_number") -%}
    {{ return("(select " ~ columns | join(", ") ~ " where 1 = 0)") }}
{%- endmacro %}


{% macro raw_location(node) -%}
    {{ return(node.meta.raw_dir ~ "/" ~ node.identifier ~ "/*.parquet") }}
{%- endmacro %}


{#- The raw files as a relation with two more columns, filename and file_row_number (from 0). -#}
{% macro raw_relation(relation, node) -%}
    {{ return(adapter.dispatch('raw_relation', 'globalshop')(relation, node)) }}
{%- endmacro %}

{#- dbt-duckdb reads the files through the source's meta.external_location. -#}
{% macro duckdb__raw_relation(relation, node) -%}
    {{ return(relation) }}
{%- endmacro %}

{#- Spark reads the folder by path; _metadata.row_index is the row's position in its Parquet file. -#}
{% macro spark__raw_relation(relation, node) -%}
    {{ return("(select *, _metadata.file_name as filename, _metadata.row_index as file_row_number"
              ~ " from parquet.`" ~ raw_location(node) ~ "`)") }}
{%- endmacro %}


{% macro raw_files_exist(node) -%}
    {{ return(adapter.dispatch('raw_files_exist', 'globalshop')(node)) }}
{%- endmacro %}

{% macro duckdb__raw_files_exist(node) -%}
    {%- set result = run_query("select count(*) from glob(" ~ dbt.string_literal(raw_location(node)) ~ ")") -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Spark SQL cannot glob, and reading a path that matches no file is an error, but a binaryFile
    table's folder may be missing or empty: the table lists the source's files (without reading
    them) and counts none. -#}
{% macro spark__raw_files_exist(node) -%}
    {%- set listing = node.schema ~ "." ~ node.identifier ~ "_files" -%}
    {%- do run_query("create schema if not exists " ~ node.schema) -%}
    {%- do run_query("create table if not exists " ~ listing ~ " using binaryFile"
        ~ " options (pathGlobFilter '*.parquet')"
        ~ " location " ~ dbt.string_literal(node.meta.raw_dir ~ "/" ~ node.identifier)) -%}
    {%- do run_query("refresh table " ~ listing) -%}
    {%- set result = run_query("select count(*) from " ~ listing) -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}
