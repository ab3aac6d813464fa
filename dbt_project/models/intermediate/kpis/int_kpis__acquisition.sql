-- Acquisition KPIs (kpi-catalogue.md) for the days this run restates, long format.
-- Session KPIs are about visitors, not customers: company level only. new_customers is cut
-- by segment; cac_30d divides company spend, so it is company level too.
with days as (
    select date_day from {{ ref('int_days') }}
),

sessions as (
    select * from {{ ref('int_sessions_converted') }}
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

sessions_daily as (
    select
        session_date as date_day,
        count(*) as sessions,
        sum(case when is_converted then 1 else 0 end) as converted_sessions,
        count(distinct visitor_id) as visitors,
        count(distinct case when is_converted then visitor_id end) as converted_visitors,
        sum(case when has_added_to_cart then 1 else 0 end) as cart_sessions,
        sum(case when has_added_to_cart and not is_converted then 1 else 0 end) as abandoned_cart_sessions
    from sessions
    group by 1
),

first_orders as (
    select customer_id, order_date as first_order_date
    from orders
    where completed_order_number = 1
),

new_customers_daily as (
    select
        first_orders.first_order_date as date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        count(*) as new_customers
    from first_orders
    inner join customer_segments on first_orders.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

company_daily as (
    select
        days.date_day,
        'all' as segment_type,
        'all' as segment_value,
        coalesce(sessions_daily.sessions, 0) as sessions,
        coalesce(sessions_daily.converted_sessions, 0) as converted_sessions,
        coalesce(sessions_daily.visitors, 0) as visitors,
        coalesce(sessions_daily.converted_visitors, 0) as converted_visitors,
        coalesce(sessions_daily.cart_sessions, 0) as cart_sessions,
        coalesce(sessions_daily.abandoned_cart_sessions, 0) as abandoned_cart_sessions,
        coalesce(marketing_spend.acquisition_spend, 0) as acquisition_spend,
        coalesce(new_customers_daily.new_customers, 0) as new_customers
    from days
    left join sessions_daily on days.date_day = sessions_daily.date_day
    left join marketing_spend on days.date_day = marketing_spend.spend_date
    left join new_customers_daily
        on days.date_day = new_customers_daily.date_day
        and new_customers_daily.segment_type = 'all'
),

company_inputs as (
    select
        company_daily.*,
        sum(acquisition_spend) over last_30_days as acquisition_spend_30d,
        sum(new_customers) over last_30_days as new_customers_30d
    from company_daily
    window last_30_days as (order by date_day rows between 29 preceding and current row)
),

segment_inputs as (
    select
        spine.date_day,
        spine.segment_type,
        spine.segment_value,
        coalesce(new_customers_daily.new_customers, 0) as new_customers
    from spine
    left join new_customers_daily
        on spine.date_day = new_customers_daily.date_day
        and spine.segment_type = new_customers_daily.segment_type
        and spine.segment_value = new_customers_daily.segment_value
),

kpis as (
    {{ union_enabled_kpis([
        (['web_analytics'], kpi_value('sessions', 'sessions', 'company_inputs')),
        (['web_analytics', 'shop'], kpi_ratio('session_conversion_rate', 'converted_sessions', 'sessions', 'company_inputs')),
        (['web_analytics', 'shop'], kpi_ratio('visitor_conversion_rate', 'converted_visitors', 'visitors', 'company_inputs')),
        (['web_analytics', 'shop'], kpi_ratio('cart_abandonment_rate', 'abandoned_cart_sessions', 'cart_sessions', 'company_inputs')),
        (['back_office', 'shop'], kpi_ratio('cac_30d', 'acquisition_spend_30d', 'new_customers_30d', 'company_inputs')),
        (['shop'], kpi_value('new_customers', 'new_customers', 'segment_inputs')),
    ]) }}
),

final as (
    select
        kpis.*,
        'acquisition' as stage
    from kpis
    where date_day >= {{ restated_from_date() }}
)

select * from final
