{#- Left joins: the public DDL lets a track have no album or genre (AlbumId, GenreId are nullable),
    and such a track is still a track. -#}
select
    tracks.track_id,
    tracks.track_name,
    tracks.album_id,
    albums.album_title,
    albums.artist_id,
    artists.artist_name,
    tracks.genre_id,
    genres.genre_name,
    tracks.composer,
    -- A double before dividing: Trino divides by the decimal literal 1000.0 at scale 1.
    cast(tracks.duration_ms as double) / 1000 as duration_seconds,
    tracks.unit_price
from {{ ref('stg_raw__track') }} as tracks
left join {{ ref('stg_raw__album') }} as albums on albums.album_id = tracks.album_id
left join {{ ref('stg_raw__artist') }} as artists on artists.artist_id = albums.artist_id
left join {{ ref('stg_raw__genre') }} as genres on genres.genre_id = tracks.genre_id
