-- One row per customer and reporting day with at least one completed order: the purchase
-- events of the predicted-CLV models (BG/NBD counts purchase days, not orders, so two
-- orders on one day are one purchase), with that day's revenue and gross margin.
with orders as (
    select * from {{ ref('int_orders_joined_to_items') }}
    where is_completed and order_date <= {{ run_max_date() }}
),

purchase_days as (
    select
        customer_id,
        order_date as purchase_date,
        count(*) as completed_orders,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin
    from orders
    group by customer_id, order_date
),

final as (
    select * from purchase_days
)

select * from final
