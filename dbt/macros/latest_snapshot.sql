{#- Every ingestion is a full copy of the source in its own ingest_date partition: staging reads
    the newest one, so re-ingesting never duplicates rows.

    The partition is a literal when the caller knows it: the dbt_runner handler passes
    --vars '{"raw_ingest_dates": {"<table>": "YYYY-MM-DD", ...}}' (the newest partition of each
    table, from a listing of raw/<table>/), so the filter is a constant at compile time and both
    engines read one folder: Athena prunes through partition projection, DuckDB through hive
    partitioning. The value is read at compile time only (never at parse time), so a new date
    does not invalidate a parsed manifest.

    Without the variable (a plain `dbt build`) it falls back to max(ingest_date): correct, but
    neither engine can prune on a subquery, so every past snapshot is scanned. -#}
{% macro latest_snapshot(table_name) -%}
    {%- set relation = source('raw', table_name) -%}
    {%- set dates = var('raw_ingest_dates', {}) -%}
    {%- set day = dates.get(table_name) if dates is mapping else none -%}
    {%- if day is not none and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', day | string) -%}
        {{ exceptions.raise_compiler_error("var raw_ingest_dates." ~ table_name ~ ": expected a date as YYYY-MM-DD") }}
    {%- endif -%}
    select * from {{ relation }}
    {%- if day is not none %}
    where ingest_date = '{{ day }}'
    {%- else %}
    where ingest_date = (select max(ingest_date) from {{ relation }})
    {%- endif %}
{%- endmacro %}
