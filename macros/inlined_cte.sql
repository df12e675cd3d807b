{#- Put between a CTE's name and its body (`events as {{ inlined_cte() }} (`) when the CTE is read
    more than once but is cheap to read again, as an import CTE of a table or view is. DuckDB
    materializes every CTE read more than once: for an import of a large relation that holds all
    its rows and columns, spilled to disk beyond the memory limit, where each read of the relation
    itself would scan only the columns it needs (BENCHMARKS.md, item 27). Engines that never
    materialize a CTE, or lack the syntax, get nothing. -#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'globalshop')()) }}
{%- endmacro %}

{% macro default__inlined_cte() -%}
{%- endmacro %}

{% macro duckdb__inlined_cte() -%}
    not materialized
{%- endmacro %}
