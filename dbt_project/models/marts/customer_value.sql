-- One row per customer as of the run's last day (kpi-catalogue.md, "Customer value"):
-- historical LTV, CPS over the last 30 days and its decile among active customers, and the
-- predicted columns (BG/NBD and Gamma-Gamma) that the predicted-CLV step wrote for that
-- day (null for customers without a completed order).
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

orders as (
    select * from {{ ref('int_orders_joined_to_items') }}
    where is_completed and order_date <= {{ run_max_date() }}
),

support_costs as (
    select * from {{ ref('int_support_costs_daily') }}
    where opened_date <= {{ run_max_date() }}
),

profitability as (
    select * from {{ ref('int_customer_profitability_daily') }}
    where date_day = {{ run_max_date() }}
),

predictions as (
    select * from {{ ref('stg_clv__customer_predictions') }}
    where as_of_date = {{ run_max_date() }}
),

order_history as (
    select
        customer_id,
        count(*) as completed_orders,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        sum(revenue) as lifetime_revenue,
        sum(gross_margin) as lifetime_gross_margin
    from orders
    group by customer_id
),

support_history as (
    select customer_id, sum(handling_cost) as lifetime_handling_cost
    from support_costs
    group by customer_id
),

scored as (
    select
        customer_id,
        customer_profitability_score,
        -- bigint on every adapter (PostgreSQL's ntile is an integer); ties by customer_id's code points.
        cast(ntile(10) over (order by customer_profitability_score, {{ codepoint_order('customer_id') }}) as bigint)
            as cps_decile
    from profitability
),

final as (
    select
        customers.customer_id,
        {{ run_max_date() }} as as_of_date,
        customers.segment,
        customers.country,
        customers.acquisition_channel,
        customers.account_manager,
        coalesce(order_history.completed_orders, 0) as completed_orders,
        order_history.first_order_date,
        order_history.last_order_date,
        order_history.lifetime_revenue,
        case
            when order_history.customer_id is not null
                then order_history.lifetime_gross_margin - coalesce(support_history.lifetime_handling_cost, 0)
        end as historical_ltv,
        scored.customer_id is not null as is_active,
        scored.customer_profitability_score as cps_30d,
        scored.cps_decile,
        cast(predictions.probability_alive as double precision) as probability_alive,
        cast(predictions.expected_purchases_12m as double precision) as expected_purchases_12m,
        cast(predictions.expected_spend_per_purchase as double precision) as expected_spend_per_purchase,
        cast(predictions.clv_predicted_12m as double precision) as clv_predicted_12m
    from customers
    left join order_history on customers.customer_id = order_history.customer_id
    left join support_history on customers.customer_id = support_history.customer_id
    left join scored on customers.customer_id = scored.customer_id
    left join predictions on customers.customer_id = predictions.customer_id
)

select * from final
