{#- Fails on every row where the expression is false (dbt_utils' test of the same name, kept in
    the project because the package hub cannot be reached from every build machine). -#}
{% test expression_is_true(model, expression, where_clause=none) %}

select *
from {{ model }}
where not ({{ expression }})
{%- if where_clause %} and ({{ where_clause }}){% endif %}

{% endtest %}
