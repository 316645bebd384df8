-- Every invoice's total equals the sum of its lines; rows returned are the invoices that disagree.
with line_totals as (
    select invoice_id, sum(line_amount) as lines_total
    from {{ ref('fct_invoice_lines') }}
    group by invoice_id
)

select
    invoices.invoice_id,
    invoices.invoice_total,
    line_totals.lines_total
from {{ ref('stg_raw__invoice') }} as invoices
left join line_totals on line_totals.invoice_id = invoices.invoice_id
where line_totals.lines_total is null
   or invoices.invoice_total <> line_totals.lines_total
