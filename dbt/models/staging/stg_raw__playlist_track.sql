with source as (
    {{ latest_snapshot('PlaylistTrack') }}
)

select
    cast(PlaylistId as bigint) as playlist_id,
    cast(TrackId as bigint) as track_id,
    ingest_date
from source
