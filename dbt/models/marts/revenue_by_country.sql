with invoices as (
    select
        billing_country as country,
        invoice_id,
        customer_id,
        sum(line_amount) as invoice_amount
    from {{ ref('fct_invoice_lines') }}
    group by billing_country, invoice_id, customer_id
)

select
    invoices.country,
    coalesce(regions.region, 'Unassigned') as region,
    count(distinct invoices.customer_id) as customer_count,
    count(*) as invoice_count,
    {{ money('sum(invoices.invoice_amount)') }} as revenue
from invoices
left join {{ ref('country_regions') }} as regions on regions.country = invoices.country
group by invoices.country, coalesce(regions.region, 'Unassigned')
