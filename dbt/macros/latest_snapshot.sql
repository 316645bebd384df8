{#- Every ingestion is a full copy of the source in its own ingest_date partition: staging reads
    the newest one, so re-ingesting never duplicates rows. The partition value is a 'YYYY-MM-DD'
    string on both engines, so max() is the latest day. -#}
{% macro latest_snapshot(table_name) -%}
    {%- set relation = source('raw', table_name) -%}
    select * from {{ relation }}
    where ingest_date = (select max(ingest_date) from {{ relation }})
{%- endmacro %}
