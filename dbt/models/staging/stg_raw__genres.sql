with source as (
    select * from {{ source('raw', 'genres') }}
    where {{ latest_ingest_date(source('raw', 'genres')) }}
)

select
    cast(genre_id as bigint) as genre_id,
    cast(name as {{ dbt.type_string() }}) as genre_name,
    ingest_date
from source
