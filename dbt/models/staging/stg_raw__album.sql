with source as (
    {{ latest_snapshot('Album') }}
)

select
    cast(AlbumId as bigint) as album_id,
    cast(Title as {{ dbt.type_string() }}) as album_title,
    cast(ArtistId as bigint) as artist_id,
    ingest_date
from source
