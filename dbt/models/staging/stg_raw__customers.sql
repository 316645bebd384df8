with source as (
    {{ latest_snapshot('customers') }}
)

select
    cast(customer_id as bigint) as customer_id,
    cast(first_name as {{ dbt.type_string() }}) as first_name,
    cast(last_name as {{ dbt.type_string() }}) as last_name,
    cast(company as {{ dbt.type_string() }}) as company,
    cast(address as {{ dbt.type_string() }}) as address,
    cast(city as {{ dbt.type_string() }}) as city,
    cast(state as {{ dbt.type_string() }}) as state,
    cast(country as {{ dbt.type_string() }}) as country,
    cast(postal_code as {{ dbt.type_string() }}) as postal_code,
    cast(phone as {{ dbt.type_string() }}) as phone,
    lower(cast(email as {{ dbt.type_string() }})) as email,
    ingest_date
from source
