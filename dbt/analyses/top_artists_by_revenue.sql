-- Ad-hoc: the ten artists who earned the most, with their share of all revenue.
-- Compile with `dbt compile --select top_artists_by_revenue` and run the SQL in Athena or DuckDB.
with artist_revenue as (
    select
        tracks.artist_id,
        tracks.artist_name,
        sum(lines.line_amount) as revenue
    from {{ ref('fct_invoice_lines') }} as lines
    inner join {{ ref('dim_tracks') }} as tracks on tracks.track_id = lines.track_id
    group by tracks.artist_id, tracks.artist_name
)

select
    artist_id,
    artist_name,
    revenue,
    round(100.0 * revenue / sum(revenue) over (), 2) as revenue_share_pct
from artist_revenue
order by revenue desc
limit 10
