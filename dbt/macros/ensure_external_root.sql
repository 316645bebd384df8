{#- DuckDB writes the marts' Parquet files under external_root but never creates that folder,
    and SQL has no mkdir. A partitioned COPY of zero rows creates its target directory and
    nothing in it; OVERWRITE_OR_IGNORE leaves the files of earlier runs alone.
    Other adapters keep their data in the warehouse: nothing to do. -#}
{% macro ensure_external_root() %}
    {% if target.type == 'duckdb' and execute %}
        {% set root = adapter.external_root() %}
        {% do run_query(
            "copy (select 1 as keep, 1 as part where false) to '" ~ root.replace("'", "''")
            ~ "' (format parquet, partition_by (part), overwrite_or_ignore true)"
        ) %}
    {% endif %}
{% endmacro %}
