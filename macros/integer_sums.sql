{#- Sums of whole numbers typed as bigint. DuckDB widens an integer sum to a 128-bit hugeint,
    which BI tools and pandas read as decimals (Python objects, ~100 bytes a cell); every count
    in the marts fits a bigint. -#}

{% macro sum_integers(expression) -%}
    cast(sum({{ expression }}) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro count_where(condition) -%}
    {{ sum_integers('case when ' ~ condition ~ ' then 1 else 0 end') }}
{%- endmacro %}
