with source as (
    {{ latest_snapshot('Employee') }}
)

select
    cast(EmployeeId as bigint) as employee_id,
    cast(LastName as {{ dbt.type_string() }}) as last_name,
    cast(FirstName as {{ dbt.type_string() }}) as first_name,
    cast(Title as {{ dbt.type_string() }}) as job_title,
    cast(ReportsTo as bigint) as reports_to,
    {{ cast_timestamp('BirthDate') }} as born_at,
    {{ cast_timestamp('HireDate') }} as hired_at,
    cast(Address as {{ dbt.type_string() }}) as address,
    cast(City as {{ dbt.type_string() }}) as city,
    cast(State as {{ dbt.type_string() }}) as state,
    cast(Country as {{ dbt.type_string() }}) as country,
    cast(PostalCode as {{ dbt.type_string() }}) as postal_code,
    cast(Phone as {{ dbt.type_string() }}) as phone,
    cast(Fax as {{ dbt.type_string() }}) as fax,
    lower(cast(Email as {{ dbt.type_string() }})) as email,
    ingest_date
from source
