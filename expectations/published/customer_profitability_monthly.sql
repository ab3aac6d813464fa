-- Each customer and month with the gap of the CPS identity (revenue - COGS - support cost
-- - allocated retention spend).
select
    cast(month as varchar) as month,
    customer_id,
    revenue,
    cogs,
    support_cost,
    allocated_retention_spend,
    customer_profitability_score,
    customer_profitability_score - (revenue - cogs - support_cost - allocated_retention_spend) as cps_gap
from customer_profitability_monthly
where month >= date_trunc('month', cast($restated_from as date))
