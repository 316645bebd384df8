with source as (
    {{ latest_snapshot('invoices') }}
)

select
    cast(invoice_id as bigint) as invoice_id,
    cast(customer_id as bigint) as customer_id,
    {{ cast_timestamp('invoice_date') }} as invoiced_at,
    cast(billing_address as {{ dbt.type_string() }}) as billing_address,
    cast(billing_city as {{ dbt.type_string() }}) as billing_city,
    cast(billing_state as {{ dbt.type_string() }}) as billing_state,
    cast(billing_country as {{ dbt.type_string() }}) as billing_country,
    cast(billing_postal_code as {{ dbt.type_string() }}) as billing_postal_code,
    {{ money('total') }} as invoice_total,
    ingest_date
from source
