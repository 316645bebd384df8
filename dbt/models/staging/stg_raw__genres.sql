with source as (
    {{ latest_snapshot('genres') }}
)

select
    cast(genre_id as bigint) as genre_id,
    cast(name as {{ dbt.type_string() }}) as genre_name,
    ingest_date
from source
