-- Efficiency KPIs (kpi-catalogue.md) for the days this run restates, long format, cut by
-- customer segment, country and acquisition channel. ltv_formula combines KPIs of several
-- families and lives in int_kpis__derived.
with days as (
    select date_day from {{ ref('int_days') }}
),

orders as (
    select * from {{ ref('int_orders_joined_to_items') }}
    where is_completed
),

classified_orders as (
    select * from {{ ref('int_orders_classified') }}
),

customer_scores as (
    select * from {{ ref('int_customer_profitability_daily') }}
),

support_costs as (
    select * from {{ ref('int_support_costs_daily') }}
),

customer_segments as (
    select * from {{ ref('int_customer_segments') }}
),

spine as (
    {{ segment_spine('days', 'customer_segments') }}
),

first_orders as (
    select customer_id, order_date as first_order_date
    from orders
    where completed_order_number = 1
),

-- Daily flows per segment (history before the first partition falls outside the spine).
orders_daily as (
    select
        orders.order_date as date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        count(*) as completed_orders,
        sum(orders.revenue) as revenue,
        sum(orders.gross_margin) as gross_margin,
        sum(case when classified_orders.is_upsell then 1 else 0 end) as upsell_orders,
        sum(case when classified_orders.is_cross_sell then 1 else 0 end) as cross_sell_orders
    from orders
    inner join classified_orders on orders.order_id = classified_orders.order_id
    inner join customer_segments on orders.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

-- Increments of the cumulative (historical LTV) sums: history before the first partition
-- counts on its first day.
history_daily as (
    select
        greatest(orders.order_date, cast('{{ var("start_date") }}' as date)) as date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        sum(orders.gross_margin) as gross_margin,
        sum(case when orders.completed_order_number = 1 then 1 else 0 end) as first_time_customers
    from orders
    inner join customer_segments on orders.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

-- A customer's tickets count towards historical LTV from the day both exist: the ticket and
-- a first completed order.
support_costs_of_buyers_daily as (
    select
        greatest(
            support_costs.opened_date, first_orders.first_order_date, cast('{{ var("start_date") }}' as date)
        ) as date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        sum(support_costs.handling_cost) as handling_cost
    from support_costs
    inner join first_orders on support_costs.customer_id = first_orders.customer_id
    inner join customer_segments on support_costs.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

cumulated as (
    select
        spine.date_day,
        spine.segment_type,
        spine.segment_value,
        coalesce(orders_daily.completed_orders, 0) as completed_orders,
        coalesce(orders_daily.revenue, 0) as revenue,
        coalesce(orders_daily.upsell_orders, 0) as upsell_orders,
        coalesce(orders_daily.cross_sell_orders, 0) as cross_sell_orders,
        sum(coalesce(orders_daily.revenue, 0)) over last_30_days as revenue_30d,
        sum(coalesce(orders_daily.gross_margin, 0)) over last_30_days as gross_margin_30d,
        sum(coalesce(history_daily.first_time_customers, 0)) over history as customers_with_orders,
        sum(coalesce(history_daily.gross_margin, 0)) over history
        - sum(coalesce(support_costs_of_buyers_daily.handling_cost, 0)) over history as historical_ltv_sum
    from spine
    left join orders_daily
        on spine.date_day = orders_daily.date_day
        and spine.segment_type = orders_daily.segment_type
        and spine.segment_value = orders_daily.segment_value
    left join history_daily
        on spine.date_day = history_daily.date_day
        and spine.segment_type = history_daily.segment_type
        and spine.segment_value = history_daily.segment_value
    left join support_costs_of_buyers_daily
        on spine.date_day = support_costs_of_buyers_daily.date_day
        and spine.segment_type = support_costs_of_buyers_daily.segment_type
        and spine.segment_value = support_costs_of_buyers_daily.segment_value
    window
        last_30_days as (
            partition by spine.segment_type, spine.segment_value
            order by spine.date_day
            rows between 29 preceding and current row
        ),
        history as (
            partition by spine.segment_type, spine.segment_value
            order by spine.date_day
            rows between unbounded preceding and current row
        )
),

scores_by_segment as (
    select
        customer_scores.date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        count(*) as active_customers,
        sum(customer_scores.customer_profitability_score) as profitability_score_sum,
        sum(case when customer_scores.customer_profitability_score < 0 then 1 else 0 end) as unprofitable_customers
    from customer_scores
    inner join customer_segments on customer_scores.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

kpi_inputs as (
    select
        cumulated.*,
        coalesce(scores_by_segment.active_customers, 0) as active_customers,
        coalesce(scores_by_segment.profitability_score_sum, 0) as profitability_score_sum,
        coalesce(scores_by_segment.unprofitable_customers, 0) as unprofitable_customers
    from cumulated
    left join scores_by_segment
        on cumulated.date_day = scores_by_segment.date_day
        and cumulated.segment_type = scores_by_segment.segment_type
        and cumulated.segment_value = scores_by_segment.segment_value
    where cumulated.date_day >= {{ restated_from_date() }}
),

kpis as (
    {{ union_enabled_kpis([
        (['shop'], kpi_value('revenue', 'revenue')),
        (['shop'], kpi_ratio('gross_margin_rate_30d', 'gross_margin_30d', 'revenue_30d')),
        (['shop'], kpi_ratio('upsell_rate', 'upsell_orders', 'completed_orders')),
        (['shop'], kpi_ratio('cross_sell_rate', 'cross_sell_orders', 'completed_orders')),
        (['shop', 'back_office'], kpi_ratio('cps_avg_30d', 'profitability_score_sum', 'active_customers')),
        (['shop', 'back_office'], kpi_ratio('unprofitable_customer_share_30d', 'unprofitable_customers', 'active_customers')),
        (['shop', 'back_office'], kpi_ratio('ltv_historical_avg', 'historical_ltv_sum', 'customers_with_orders')),
    ]) }}
),

final as (
    select
        kpis.*,
        'efficiency' as stage
    from kpis
)

select * from final
