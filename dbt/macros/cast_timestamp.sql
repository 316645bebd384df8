{#- Cast to a timestamp the target can store.
    Athena's Hive tables keep millisecond precision only: a CTAS of a plain `timestamp`
    (microseconds in engine v3) fails, so Athena gets timestamp(3). -#}
{% macro cast_timestamp(expression) %}
    {{ return(adapter.dispatch('cast_timestamp', 'dbt_lambda')(expression)) }}
{% endmacro %}

{% macro default__cast_timestamp(expression) -%}
    cast({{ expression }} as timestamp)
{%- endmacro %}

{% macro athena__cast_timestamp(expression) -%}
    cast({{ expression }} as timestamp(3))
{%- endmacro %}
