-- Customer profitability by month (kpi-catalogue.md): revenue, COGS, support cost, allocated
-- retention spend and CPS per customer and calendar month of the published range. The
-- month's retention spend is shared equally among the customers active on its last
-- published day (the month's last day, or the run's last day for the month in progress).
with days as (
    select date_day from {{ ref('int_days') }}
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

customer_status as (
    select * from {{ ref('int_customer_status_daily') }}
),

months as (
    select
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        max(date_day) as last_published_day
    from days
    group by 1
),

order_months as (
    select
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as month_start,
        customer_id,
        sum(revenue) as revenue,
        sum(cogs) as cogs
    from orders
    group by 1, 2
),

support_months as (
    select
        cast({{ dbt.date_trunc('month', 'opened_date') }} as date) as month_start,
        customer_id,
        sum(handling_cost) as support_cost
    from support_costs
    group by 1, 2
),

active_at_month_end as (
    select
        months.month_start,
        customer_status.customer_id
    from months
    inner join customer_status on customer_status.date_day = months.last_published_day
),

active_counts as (
    select month_start, count(*) as active_customers
    from active_at_month_end
    group by month_start
),

retention_spend_shares as (
    select
        months.month_start,
        {{ divide_amount('sum(marketing_spend.retention_spend)', 'active_counts.active_customers') }}
            as retention_spend_share
    from months
    inner join marketing_spend
        on cast({{ dbt.date_trunc('month', 'marketing_spend.spend_date') }} as date) = months.month_start
        and marketing_spend.spend_date <= months.last_published_day
    left join active_counts on months.month_start = active_counts.month_start
    group by months.month_start, active_counts.active_customers
),

customer_months as (
    select month_start, customer_id from order_months
    union
    select month_start, customer_id from support_months
    union
    select month_start, customer_id from active_at_month_end
),

customer_month_amounts as (
    select
        customer_months.month_start as month,
        customer_months.customer_id,
        coalesce(order_months.revenue, 0) as revenue,
        coalesce(order_months.cogs, 0) as cogs,
        coalesce(support_months.support_cost, 0) as support_cost,
        case
            when active_at_month_end.customer_id is not null
                then coalesce(retention_spend_shares.retention_spend_share, 0)
            else 0
        end as allocated_retention_spend,
        active_at_month_end.customer_id is not null as is_active_at_month_end
    from customer_months
    inner join months on customer_months.month_start = months.month_start
    left join order_months
        on customer_months.month_start = order_months.month_start
        and customer_months.customer_id = order_months.customer_id
    left join support_months
        on customer_months.month_start = support_months.month_start
        and customer_months.customer_id = support_months.customer_id
    left join active_at_month_end
        on customer_months.month_start = active_at_month_end.month_start
        and customer_months.customer_id = active_at_month_end.customer_id
    left join retention_spend_shares on customer_months.month_start = retention_spend_shares.month_start
),

final as (
    select
        customer_month_amounts.*,
        revenue - cogs - support_cost - allocated_retention_spend as customer_profitability_score
    from customer_month_amounts
)

select * from final
