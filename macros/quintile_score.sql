{#-
    1 to 5 by quintile within the customer's source, higher is better. With descending=true a
    smaller value scores higher (recency: fewer days since the last order is better). Ties share
    a score because percent_rank gives equal values equal ranks.
-#}
{% macro quintile_score(column, descending=false) -%}
    {%- set direction = 'desc' if descending else 'asc' -%}
    least(5, 1 + cast(floor(5 * percent_rank() over (
        partition by source_system order by {{ column }} {{ direction }}
    )) as {{ dbt.type_int() }}))
{%- endmacro %}
