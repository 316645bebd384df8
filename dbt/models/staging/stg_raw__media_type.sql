with source as (
    {{ latest_snapshot('MediaType') }}
)

select
    cast(MediaTypeId as bigint) as media_type_id,
    cast(Name as {{ dbt.type_string() }}) as media_type_name,
    ingest_date
from source
