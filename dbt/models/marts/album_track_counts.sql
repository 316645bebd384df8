{#- The analytics summary: how many tracks each album has. -#}
select
    albums.album_id,
    albums.album_title,
    artists.artist_name,
    count(tracks.track_id) as track_count
from {{ ref('stg_raw__album') }} as albums
inner join {{ ref('stg_raw__artist') }} as artists on artists.artist_id = albums.artist_id
left join {{ ref('stg_raw__track') }} as tracks on tracks.album_id = albums.album_id
group by albums.album_id, albums.album_title, artists.artist_name
