{#- Success means data: a mart may not be published empty while the raw sources it is built from
    have rows. Applied to every mart in models/marts/_marts.yml.

    Catches what unique and not_null cannot (they pass on an empty table): staging reading a
    partition that holds nothing (a future ingest_date outside Athena's partition projection, a
    wrong raw_ingest_dates value, a folder renamed), or a join that lost every row.
    The test returns one row (fails) when the model is empty and at least one upstream raw source
    has a row. The sources are found by walking the model's parents in the graph; each is probed
    with `limit 1`, which stops at the first row (cheap on Athena too). A project whose sources are
    all empty (nothing ingested yet) passes. -#}
{% test not_empty_when_sources_have_rows(model) %}
{%- set found = namespace(sources=[], seen=[], frontier=[]) -%}
{%- if execute -%}
    {%- set me = model.identifier | lower -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.get('resource_type') == 'model' and (node.get('alias') or node.get('name')) | lower == me -%}
            {%- set found.frontier = found.frontier + ((node.get('depends_on') or {}).get('nodes') or []) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- Breadth-first over the parents; ten levels is far deeper than staging -> marts. -#}
    {%- for _ in range(10) -%}
        {%- set next = [] -%}
        {%- for unique_id in found.frontier if unique_id not in found.seen -%}
            {%- set found.seen = found.seen + [unique_id] -%}
            {%- if unique_id.startswith('source.') and unique_id in graph.sources -%}
                {%- set found.sources = found.sources + [graph.sources[unique_id]] -%}
            {%- elif unique_id in graph.nodes -%}
                {#- seeds' depends_on has macros only -#}
                {%- do next.extend((graph.nodes[unique_id].get('depends_on') or {}).get('nodes') or []) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set found.frontier = next -%}
    {%- endfor -%}
{%- endif -%}
with published as (
    select count(*) as row_count from (select 1 as one from {{ model }} limit 1) as probe
),
upstream as (
    select 0 as has_rows
    {%- for src in found.sources %}
    union all
    select count(*) as has_rows from (select 1 as one from {{ source(src.source_name, src.name) }} limit 1) as probe_{{ loop.index }}
    {%- endfor %}
)
select published.row_count, max(upstream.has_rows) as sources_with_rows
from published cross join upstream
group by published.row_count
having published.row_count = 0 and max(upstream.has_rows) > 0
{% endtest %}
