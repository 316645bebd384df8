with source as (
    {{ latest_snapshot('Track') }}
)

select
    cast(TrackId as bigint) as track_id,
    cast(Name as {{ dbt.type_string() }}) as track_name,
    cast(AlbumId as bigint) as album_id,
    cast(MediaTypeId as bigint) as media_type_id,
    cast(GenreId as bigint) as genre_id,
    cast(Composer as {{ dbt.type_string() }}) as composer,
    cast(Milliseconds as bigint) as duration_ms,
    cast(Bytes as bigint) as size_bytes,
    {{ money('UnitPrice') }} as unit_price,
    ingest_date
from source
