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
        {{ return(relation) }}
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


{% macro raw_files_exist(node) -%}
    {{ return(adapter.dispatch('raw_files_exist', 'globalshop')(node)) }}
{%- endmacro %}

{% macro duckdb__raw_files_exist(node) -%}
    {%- set result = run_query("select count(*) from glob(" ~ dbt.string_literal(raw_location(node)) ~ ")") -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}
