-- One row per customer and reporting day on which the customer is a subscriber or
-- purchase-active (so active, kpi-catalogue.md), for the days this run restates, the 30 days
-- before them (the 30-day KPIs compare d with d - 30), and every month's last published day
-- (monthly profitability). Customer MRR is at the end of the day; purchase-active means a
-- completed order on one of the var activity_window_days (default 90) days ending at d.
with published_days as (
    select date_day from {{ ref('int_days') }}
),

-- The 30 days before the restated ones may precede the first partition (history).
comparison_days as (
    {{ dbt.date_spine('day', add_days(-30, restated_from_date()), add_days(1, run_max_date())) }}
),

days as (
    select cast(date_day as date) as date_day from comparison_days
    union
    select date_day
    from published_days
    where date_day = cast({{ dbt.last_day('date_day', 'month') }} as date)
),

periods as (
    select * from {{ ref('int_subscription_periods_monthly_amounts') }}
),

completed_orders as (
    select customer_id, order_date from {{ ref('int_orders_joined_to_items') }}
    where is_completed
),

customer_mrr as (
    select
        days.date_day,
        periods.customer_id,
        sum(periods.monthly_amount) as mrr
    from days
    inner join periods
        on days.date_day >= periods.first_mrr_date
        and (periods.end_mrr_date is null or days.date_day < periods.end_mrr_date)
    group by 1, 2
),

purchase_active as (
    select distinct
        days.date_day,
        completed_orders.customer_id
    from days
    inner join completed_orders
        on completed_orders.order_date <= days.date_day
        and completed_orders.order_date > {{ add_days(-1 * var('activity_window_days', 90) | int, 'days.date_day') }}
),

final as (
    select
        coalesce(customer_mrr.date_day, purchase_active.date_day) as date_day,
        coalesce(customer_mrr.customer_id, purchase_active.customer_id) as customer_id,
        -- Typed, not left to the adapter: PostgreSQL's sum of a decimal has no scale.
        cast(coalesce(customer_mrr.mrr, 0) as {{ exact_amount() }}) as mrr,
        coalesce(customer_mrr.mrr, 0) > 0 as is_subscriber,
        purchase_active.customer_id is not null as is_purchase_active
    from customer_mrr
    full outer join purchase_active
        on customer_mrr.date_day = purchase_active.date_day
        and customer_mrr.customer_id = purchase_active.customer_id
)

select * from final
where is_subscriber or is_purchase_active
