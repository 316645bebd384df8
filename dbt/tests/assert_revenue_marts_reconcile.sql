-- Revenue by genre and revenue by country both add up to the invoices' grand total.
with totals as (
    select
        (select sum(invoice_total) from {{ ref('stg_raw__invoice') }}) as invoiced,
        (select sum(revenue) from {{ ref('revenue_by_genre') }}) as by_genre,
        (select sum(revenue) from {{ ref('revenue_by_country') }}) as by_country
)

select *
from totals
where by_genre <> invoiced or by_country <> invoiced or invoiced is null
