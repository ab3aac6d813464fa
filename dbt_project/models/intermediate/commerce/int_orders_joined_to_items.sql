-- One row per order with its money (kpi-catalogue.md: order revenue, COGS, gross margin),
-- its reporting day, and its place in the customer's sequence of completed orders.
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

order_totals as (
    select
        order_id,
        sum(quantity * unit_price - discount_amount) as revenue,
        sum(quantity * unit_cost) as cogs
    from order_items
    group by order_id
),

orders_with_totals as (
    select
        orders.order_id,
        orders.customer_id,
        orders.session_id,
        orders.ordered_at,
        {{ to_reporting_date('orders.ordered_at') }} as order_date,
        orders.order_status,
        orders.order_status = 'completed' as is_completed,
        coalesce(order_totals.revenue, 0) as revenue,
        coalesce(order_totals.cogs, 0) as cogs
    from orders
    left join order_totals on orders.order_id = order_totals.order_id
),

completed_sequence as (
    select
        order_id,
        row_number() over (
            partition by customer_id
            order by ordered_at, {{ codepoint_order('order_id') }}
        ) as completed_order_number
    from orders_with_totals
    where is_completed
),

final as (
    select
        orders_with_totals.*,
        orders_with_totals.revenue - orders_with_totals.cogs as gross_margin,
        completed_sequence.completed_order_number
    from orders_with_totals
    left join completed_sequence on orders_with_totals.order_id = completed_sequence.order_id
)

select * from final
