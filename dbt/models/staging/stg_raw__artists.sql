with source as (
    select * from {{ source('raw', 'artists') }}
    where {{ latest_ingest_date(source('raw', 'artists')) }}
)

select
    cast(artist_id as bigint) as artist_id,
    cast(name as {{ dbt.type_string() }}) as artist_name,
    ingest_date
from source
