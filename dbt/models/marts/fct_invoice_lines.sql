{#- On Athena the fact is partitioned by year: most questions are about a period,
    and a year per partition stays far below Athena's 100-partitions-per-write limit. -#}
{{ config(partitioned_by=['invoice_year'] if target.type == 'athena' else none) }}

select
    lines.invoice_line_id,
    lines.invoice_id,
    invoices.customer_id,
    invoices.invoiced_at,
    cast(invoices.invoiced_at as date) as invoice_date,
    invoices.billing_country,
    lines.track_id,
    tracks.album_id,
    tracks.genre_id,
    lines.unit_price,
    lines.quantity,
    {{ money('lines.unit_price * lines.quantity') }} as line_amount,
    cast(extract(year from invoices.invoiced_at) as integer) as invoice_year
from {{ ref('stg_raw__invoice_line') }} as lines
inner join {{ ref('stg_raw__invoice') }} as invoices on invoices.invoice_id = lines.invoice_id
inner join {{ ref('stg_raw__track') }} as tracks on tracks.track_id = lines.track_id
