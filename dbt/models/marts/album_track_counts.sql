{#- The analytics summary: how many tracks each album has. -#}
select
    albums.album_id,
    albums.album_title,
    artists.artist_name,
    count(tracks.track_id) as track_count
from {{ ref('stg_raw__albums') }} as albums
inner join {{ ref('stg_raw__artists') }} as artists on artists.artist_id = albums.artist_id
left join {{ ref('stg_raw__tracks') }} as tracks on tracks.album_id = albums.album_id
group by albums.album_id, albums.album_title, artists.artist_name
