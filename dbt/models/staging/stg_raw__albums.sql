with source as (
    {{ latest_snapshot('albums') }}
)

select
    cast(album_id as bigint) as album_id,
    cast(title as {{ dbt.type_string() }}) as album_title,
    cast(artist_id as bigint) as artist_id,
    ingest_date
from source
