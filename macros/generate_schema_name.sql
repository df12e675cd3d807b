{#- Use the configured schema name as-is (staging, intermediate, data_quality, ...) instead of
    prefixing it with the target schema, so BI users see short, stable schema names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
