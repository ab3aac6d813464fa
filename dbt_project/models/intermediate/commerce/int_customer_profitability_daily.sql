-- Customer profitability score (CPS, kpi-catalogue.md) of each customer active at d, over
-- the 30 days ending at d: gross margin of completed orders - handling cost of tickets
-- opened - an equal share of the 30 days' retention spend among the customers active at d.
-- For the days this run restates.
with customer_status as (
    select date_day, customer_id from {{ ref('int_customer_status_daily') }}
    where date_day >= {{ restated_from_date() }}
),

orders as (
    select * from {{ ref('int_orders_joined_to_items') }}
    where is_completed
),

support_costs as (
    select * from {{ ref('int_support_costs_daily') }}
),

marketing_spend as (
    select * from {{ ref('int_marketing_spend_daily') }}
),

margin_daily as (
    select customer_id, order_date, sum(gross_margin) as gross_margin
    from orders
    group by 1, 2
),

active_margin as (
    select
        customer_status.date_day,
        customer_status.customer_id,
        sum(margin_daily.gross_margin) as gross_margin_30d
    from customer_status
    inner join margin_daily
        on customer_status.customer_id = margin_daily.customer_id
        and margin_daily.order_date <= customer_status.date_day
        and margin_daily.order_date > {{ add_days(-30, 'customer_status.date_day') }}
    group by 1, 2
),

active_support as (
    select
        customer_status.date_day,
        customer_status.customer_id,
        sum(support_costs.handling_cost) as handling_cost_30d
    from customer_status
    inner join support_costs
        on customer_status.customer_id = support_costs.customer_id
        and support_costs.opened_date <= customer_status.date_day
        and support_costs.opened_date > {{ add_days(-30, 'customer_status.date_day') }}
    group by 1, 2
),

active_counts as (
    select date_day, count(*) as active_customers
    from customer_status
    group by date_day
),

retention_spend_shares as (
    select
        active_counts.date_day,
        {{ divide_amount('coalesce(sum(marketing_spend.retention_spend), 0)', 'active_counts.active_customers') }}
            as retention_spend_share
    from active_counts
    left join marketing_spend
        on marketing_spend.spend_date <= active_counts.date_day
        and marketing_spend.spend_date > {{ add_days(-30, 'active_counts.date_day') }}
    group by active_counts.date_day, active_counts.active_customers
),

final as (
    select
        customer_status.date_day,
        customer_status.customer_id,
        coalesce(active_margin.gross_margin_30d, 0) as gross_margin_30d,
        coalesce(active_support.handling_cost_30d, 0) as handling_cost_30d,
        retention_spend_shares.retention_spend_share,
        coalesce(active_margin.gross_margin_30d, 0)
        - coalesce(active_support.handling_cost_30d, 0)
        - retention_spend_shares.retention_spend_share as customer_profitability_score
    from customer_status
    inner join retention_spend_shares on customer_status.date_day = retention_spend_shares.date_day
    left join active_margin
        on customer_status.date_day = active_margin.date_day
        and customer_status.customer_id = active_margin.customer_id
    left join active_support
        on customer_status.date_day = active_support.date_day
        and customer_status.customer_id = active_support.customer_id
)

select * from final
