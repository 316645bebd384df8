with source as (
    {{ latest_snapshot('Invoice') }}
)

select
    cast(InvoiceId as bigint) as invoice_id,
    cast(CustomerId as bigint) as customer_id,
    {{ cast_timestamp('InvoiceDate') }} as invoiced_at,
    cast(BillingAddress as {{ dbt.type_string() }}) as billing_address,
    cast(BillingCity as {{ dbt.type_string() }}) as billing_city,
    cast(BillingState as {{ dbt.type_string() }}) as billing_state,
    cast(BillingCountry as {{ dbt.type_string() }}) as billing_country,
    cast(BillingPostalCode as {{ dbt.type_string() }}) as billing_postal_code,
    {{ money('Total') }} as invoice_total,
    ingest_date
from source
