with source as (
    select * from {{ source('raw', 'albums') }}
    where {{ latest_ingest_date(source('raw', 'albums')) }}
)

select
    cast(album_id as bigint) as album_id,
    cast(title as {{ dbt.type_string() }}) as album_title,
    cast(artist_id as bigint) as artist_id,
    ingest_date
from source
