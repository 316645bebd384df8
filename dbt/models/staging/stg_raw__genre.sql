with source as (
    {{ latest_snapshot('Genre') }}
)

select
    cast(GenreId as bigint) as genre_id,
    cast(Name as {{ dbt.type_string() }}) as genre_name,
    ingest_date
from source
