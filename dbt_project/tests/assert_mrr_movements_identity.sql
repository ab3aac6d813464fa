-- closing = opening + new + reactivation + expansion - contraction - churned, to the cent,
-- and each month opens where the month before closed.
with movements as (
    select
        month,
        opening_mrr,
        closing_mrr,
        lag(closing_mrr) over (order by month) as previous_closing_mrr,
        opening_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr as bridged_mrr
    from {{ ref('mrr_movements_monthly') }}
)

select *
from movements
where abs(closing_mrr - bridged_mrr) >= 0.01
    or abs(opening_mrr - coalesce(previous_closing_mrr, opening_mrr)) >= 0.01
