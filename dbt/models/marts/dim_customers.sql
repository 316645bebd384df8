select
    customers.customer_id,
    {{ dbt.concat(["customers.first_name", "' '", "customers.last_name"]) }} as customer_name,
    customers.email,
    customers.company,
    customers.city,
    customers.country,
    coalesce(regions.region, 'Unassigned') as region
from {{ ref('stg_raw__customer') }} as customers
left join {{ ref('country_regions') }} as regions on regions.country = customers.country
