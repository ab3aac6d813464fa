-- Each month with the two gaps its identities must close: the bridge from opening to
-- closing MRR, and the opening against the month before's closing.
select
    cast(month as varchar) as month,
    opening_mrr,
    new_mrr,
    reactivation_mrr,
    expansion_mrr,
    contraction_mrr,
    churned_mrr,
    closing_mrr,
    closing_mrr - (opening_mrr + new_mrr + reactivation_mrr + expansion_mrr - contraction_mrr - churned_mrr)
        as bridge_gap,
    opening_mrr - coalesce(lag(closing_mrr) over (order by month), opening_mrr) as continuity_gap
from mrr_movements_monthly
