{#- Money as an exact decimal on every engine (the raw JSON carries numbers, read as doubles locally). -#}
{% macro money(expression) -%}
    cast({{ expression }} as decimal(18, 2))
{%- endmacro %}
