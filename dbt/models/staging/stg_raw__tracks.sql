with source as (
    {{ latest_snapshot('tracks') }}
)

select
    cast(track_id as bigint) as track_id,
    cast(name as {{ dbt.type_string() }}) as track_name,
    cast(album_id as bigint) as album_id,
    cast(genre_id as bigint) as genre_id,
    cast(composer as {{ dbt.type_string() }}) as composer,
    cast(milliseconds as bigint) as duration_ms,
    cast(bytes as bigint) as size_bytes,
    {{ money('unit_price') }} as unit_price,
    ingest_date
from source
