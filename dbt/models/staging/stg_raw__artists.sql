with source as (
    {{ latest_snapshot('artists') }}
)

select
    cast(artist_id as bigint) as artist_id,
    cast(name as {{ dbt.type_string() }}) as artist_name,
    ingest_date
from source
