select
    genres.genre_id,
    genres.genre_name,
    count(distinct lines.invoice_id) as invoice_count,
    -- DuckDB sums integers into a HUGEINT (a DOUBLE once in Parquet), Athena into a bigint: one type on both.
    cast(coalesce(sum(lines.quantity), 0) as {{ dbt.type_bigint() }}) as units_sold,
    {{ money('coalesce(sum(lines.line_amount), 0)') }} as revenue
from {{ ref('stg_raw__genre') }} as genres
left join {{ ref('fct_invoice_lines') }} as lines on lines.genre_id = genres.genre_id
group by genres.genre_id, genres.genre_name
