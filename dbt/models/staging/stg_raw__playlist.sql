with source as (
    {{ latest_snapshot('Playlist') }}
)

select
    cast(PlaylistId as bigint) as playlist_id,
    cast(Name as {{ dbt.type_string() }}) as playlist_name,
    ingest_date
from source
