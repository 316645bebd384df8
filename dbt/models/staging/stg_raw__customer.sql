with source as (
    {{ latest_snapshot('Customer') }}
)

select
    cast(CustomerId as bigint) as customer_id,
    cast(FirstName as {{ dbt.type_string() }}) as first_name,
    cast(LastName as {{ dbt.type_string() }}) as last_name,
    cast(Company as {{ dbt.type_string() }}) as company,
    cast(Address as {{ dbt.type_string() }}) as address,
    cast(City as {{ dbt.type_string() }}) as city,
    cast(State as {{ dbt.type_string() }}) as state,
    cast(Country as {{ dbt.type_string() }}) as country,
    cast(PostalCode as {{ dbt.type_string() }}) as postal_code,
    cast(Phone as {{ dbt.type_string() }}) as phone,
    cast(Fax as {{ dbt.type_string() }}) as fax,
    lower(cast(Email as {{ dbt.type_string() }})) as email,
    cast(SupportRepId as bigint) as support_rep_id,
    ingest_date
from source
