-- Rates are fractions in [0, 1] and NPS is in [-100, 100] (kpi-catalogue.md); counts,
-- stocks and margins of error are never negative.
select *
from {{ ref('kpi_daily') }}
where value is not null
    and (
        (kpi in (
            'session_conversion_rate', 'visitor_conversion_rate', 'cart_abandonment_rate',
            'subscriber_churn_rate_30d', 'activity_churn_rate_30d', 'revenue_churn_rate_30d',
            'repeat_purchase_rate', 'csat_30d', 'upsell_rate', 'cross_sell_rate',
            'unprofitable_customer_share_30d'
        ) and (value < 0 or value > 1))
        or (kpi = 'nps_30d' and (value < -100 or value > 100))
        or (kpi in ('sessions', 'new_customers', 'mrr', 'subscribers', 'nps_30d_margin_of_error', 'net_revenue_retention_30d')
            and value < 0)
    )
