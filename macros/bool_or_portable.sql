{#- True when any row of the group is true; written with max() so every engine accepts it. -#}
{% macro bool_or_portable(expr) -%}
    max(case when {{ expr }} then 1 else 0 end) = 1
{%- endmacro %}
