with source as (
    {{ latest_snapshot('invoice_lines') }}
)

select
    cast(invoice_line_id as bigint) as invoice_line_id,
    cast(invoice_id as bigint) as invoice_id,
    cast(track_id as bigint) as track_id,
    {{ money('unit_price') }} as unit_price,
    cast(quantity as integer) as quantity,
    ingest_date
from source
