-- Retention KPIs (kpi-catalogue.md) for the days this run restates, long format, cut by
-- customer segment, country and acquisition channel; crc_30d divides company retention
-- spend, so it is company level only.
with days as (
    select date_day from {{ ref('int_days') }}
    where date_day >= {{ restated_from_date() }}
),

customer_status as (
    select * from {{ ref('int_customer_status_daily') }}
),

orders as (
    select * from {{ ref('int_orders_joined_to_items') }}
),

customer_segments as (
    select * from {{ ref('int_customer_segments') }}
),

marketing_spend as (
    select * from {{ ref('int_marketing_spend_daily') }}
),

spine as (
    {{ segment_spine('days', 'customer_segments') }}
),

-- Each customer's status at d and 30 days before; no row means neither subscriber nor active.
status_now as (
    select * from customer_status
    where date_day >= {{ restated_from_date() }}
),

status_30d_before as (
    select
        {{ add_days(30, 'date_day') }} as date_day,
        customer_id,
        mrr,
        is_subscriber,
        is_purchase_active
    from customer_status
    where {{ add_days(30, 'date_day') }} >= {{ restated_from_date() }}
        and {{ add_days(30, 'date_day') }} <= {{ run_max_date() }}
),

status_pairs as (
    select
        coalesce(status_now.date_day, status_30d_before.date_day) as date_day,
        coalesce(status_now.customer_id, status_30d_before.customer_id) as customer_id,
        coalesce(status_now.mrr, 0) as mrr,
        coalesce(status_now.is_subscriber, false) as is_subscriber,
        coalesce(status_now.is_purchase_active, false) as is_purchase_active,
        status_now.customer_id is not null as is_active,
        coalesce(status_30d_before.mrr, 0) as mrr_30d_ago,
        coalesce(status_30d_before.is_subscriber, false) as was_subscriber,
        coalesce(status_30d_before.is_purchase_active, false) as was_purchase_active,
        status_30d_before.customer_id is not null as was_active
    from status_now
    full outer join status_30d_before
        on status_now.date_day = status_30d_before.date_day
        and status_now.customer_id = status_30d_before.customer_id
),

status_measures as (
    select
        status_pairs.date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        sum(status_pairs.mrr) as mrr,
        sum(case when status_pairs.is_subscriber then 1 else 0 end) as subscribers,
        sum(case when status_pairs.was_subscriber then 1 else 0 end) as subscribers_30d_ago,
        sum(case when status_pairs.was_subscriber and not status_pairs.is_subscriber then 1 else 0 end)
            as churned_subscribers,
        sum(case when status_pairs.was_purchase_active then 1 else 0 end) as purchase_active_30d_ago,
        sum(case when status_pairs.was_purchase_active and not status_pairs.is_purchase_active then 1 else 0 end)
            as lapsed_purchasers,
        sum(case when status_pairs.was_subscriber then status_pairs.mrr_30d_ago else 0 end) as mrr_30d_ago,
        sum(
            case
                when status_pairs.was_subscriber and status_pairs.mrr_30d_ago > status_pairs.mrr
                    then status_pairs.mrr_30d_ago - status_pairs.mrr
                else 0
            end
        ) as churned_and_contracted_mrr,
        sum(case when status_pairs.was_subscriber then status_pairs.mrr else 0 end) as retained_mrr,
        sum(case when status_pairs.was_active and status_pairs.is_active then 1 else 0 end) as retained_customers
    from status_pairs
    inner join customer_segments on status_pairs.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

first_and_second_orders as (
    select
        customer_id,
        min(case when completed_order_number = 1 then order_date end) as first_order_date,
        min(case when completed_order_number = 2 then order_date end) as second_order_date
    from orders
    where is_completed
    group by customer_id
),

-- Customers with a first (second) completed order on each day, by segment: counted once per
-- day of history, then summed up to each restated day, rather than joining every customer to
-- every restated day (that join grew with customers x days: 47M rows in a 2-year history).
order_milestones as (
    select
        customer_segments.segment_type,
        customer_segments.segment_value,
        first_and_second_orders.first_order_date,
        first_and_second_orders.second_order_date
    from first_and_second_orders
    inner join customer_segments on first_and_second_orders.customer_id = customer_segments.customer_id
),

milestones_by_day as (
    select
        segment_type,
        segment_value,
        first_order_date as milestone_date,
        count(*) as first_orders,
        0 as second_orders
    from order_milestones
    group by 1, 2, 3
    union all
    select
        segment_type,
        segment_value,
        second_order_date as milestone_date,
        0 as first_orders,
        count(*) as second_orders
    from order_milestones
    where second_order_date is not null
    group by 1, 2, 3
),

purchasers as (
    select
        spine.date_day,
        spine.segment_type,
        spine.segment_value,
        cast(sum(milestones_by_day.first_orders) as {{ dbt.type_bigint() }}) as customers_with_orders,
        cast(sum(milestones_by_day.second_orders) as {{ dbt.type_bigint() }}) as customers_with_repeat_orders
    from spine
    inner join milestones_by_day
        on spine.segment_type = milestones_by_day.segment_type
        and spine.segment_value = milestones_by_day.segment_value
        and milestones_by_day.milestone_date <= spine.date_day
    group by 1, 2, 3
),

retention_spend as (
    select
        days.date_day,
        sum(marketing_spend.retention_spend) as retention_spend_30d
    from days
    inner join marketing_spend
        on marketing_spend.spend_date <= days.date_day
        and marketing_spend.spend_date > {{ add_days(-30, 'days.date_day') }}
    group by 1
),

kpi_inputs as (
    select
        spine.date_day,
        spine.segment_type,
        spine.segment_value,
        coalesce(status_measures.mrr, 0) as mrr,
        coalesce(status_measures.subscribers, 0) as subscribers,
        coalesce(status_measures.subscribers_30d_ago, 0) as subscribers_30d_ago,
        coalesce(status_measures.churned_subscribers, 0) as churned_subscribers,
        coalesce(status_measures.purchase_active_30d_ago, 0) as purchase_active_30d_ago,
        coalesce(status_measures.lapsed_purchasers, 0) as lapsed_purchasers,
        coalesce(status_measures.mrr_30d_ago, 0) as mrr_30d_ago,
        coalesce(status_measures.churned_and_contracted_mrr, 0) as churned_and_contracted_mrr,
        coalesce(status_measures.retained_mrr, 0) as retained_mrr,
        coalesce(status_measures.retained_customers, 0) as retained_customers,
        coalesce(purchasers.customers_with_orders, 0) as customers_with_orders,
        coalesce(purchasers.customers_with_repeat_orders, 0) as customers_with_repeat_orders,
        coalesce(retention_spend.retention_spend_30d, 0) as retention_spend_30d
    from spine
    left join status_measures
        on spine.date_day = status_measures.date_day
        and spine.segment_type = status_measures.segment_type
        and spine.segment_value = status_measures.segment_value
    left join purchasers
        on spine.date_day = purchasers.date_day
        and spine.segment_type = purchasers.segment_type
        and spine.segment_value = purchasers.segment_value
    left join retention_spend on spine.date_day = retention_spend.date_day
),

company_inputs as (
    select * from kpi_inputs where segment_type = 'all'
),

kpis as (
    {{ union_enabled_kpis([
        (['shop'], kpi_value('mrr', 'mrr')),
        (['shop'], kpi_value('subscribers', 'subscribers')),
        (['shop'], kpi_ratio('arpa', 'mrr', 'subscribers')),
        (['shop'], kpi_ratio('subscriber_churn_rate_30d', 'churned_subscribers', 'subscribers_30d_ago')),
        (['shop'], kpi_ratio('activity_churn_rate_30d', 'lapsed_purchasers', 'purchase_active_30d_ago')),
        (['shop'], kpi_ratio('revenue_churn_rate_30d', 'churned_and_contracted_mrr', 'mrr_30d_ago')),
        (['shop'], kpi_ratio('net_revenue_retention_30d', 'retained_mrr', 'mrr_30d_ago')),
        (['shop'], kpi_ratio('repeat_purchase_rate', 'customers_with_repeat_orders', 'customers_with_orders')),
        (['shop', 'back_office'], kpi_ratio('crc_30d', 'retention_spend_30d', 'retained_customers', 'company_inputs')),
    ]) }}
),

final as (
    select
        kpis.*,
        'retention' as stage
    from kpis
)

select * from final
