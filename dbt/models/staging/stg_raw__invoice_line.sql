with source as (
    {{ latest_snapshot('InvoiceLine') }}
)

select
    cast(InvoiceLineId as bigint) as invoice_line_id,
    cast(InvoiceId as bigint) as invoice_id,
    cast(TrackId as bigint) as track_id,
    {{ money('UnitPrice') }} as unit_price,
    cast(Quantity as integer) as quantity,
    ingest_date
from source
