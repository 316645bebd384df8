with source as (
    {{ latest_snapshot('Artist') }}
)

select
    cast(ArtistId as bigint) as artist_id,
    cast(Name as {{ dbt.type_string() }}) as artist_name,
    ingest_date
from source
