-- One row per completed order, classified as upsell and/or cross-sell (kpi-catalogue.md):
-- upsell: an item in a product line the customer bought in strictly earlier completed
-- orders, at a tier above the highest tier bought there before; cross-sell: the customer
-- has an earlier completed order and this one contains a product line never bought before.
-- "Earlier" follows the order sequence (ordered_at, then order_id by code point).
with completed_orders as (
    select * from {{ ref('int_orders_joined_to_items') }}
    where is_completed
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

order_lines as (
    select
        completed_orders.customer_id,
        completed_orders.order_id,
        completed_orders.completed_order_number,
        products.product_line,
        max(products.tier) as max_tier_in_order
    from completed_orders
    inner join order_items on completed_orders.order_id = order_items.order_id
    inner join products on order_items.product_id = products.product_id
    group by 1, 2, 3, 4
),

order_lines_with_history as (
    select
        order_lines.*,
        max(max_tier_in_order) over (
            partition by customer_id, product_line
            order by completed_order_number
            rows between unbounded preceding and 1 preceding
        ) as max_tier_before
    from order_lines
),

order_flags as (
    select
        order_id,
        max(case when max_tier_before is not null and max_tier_in_order > max_tier_before then 1 else 0 end)
            as has_upsell_line,
        max(case when max_tier_before is null then 1 else 0 end) as has_new_line
    from order_lines_with_history
    group by order_id
),

final as (
    select
        completed_orders.order_id,
        completed_orders.customer_id,
        completed_orders.order_date,
        completed_orders.completed_order_number,
        coalesce(order_flags.has_upsell_line, 0) = 1 as is_upsell,
        completed_orders.completed_order_number > 1 and coalesce(order_flags.has_new_line, 0) = 1 as is_cross_sell
    from completed_orders
    left join order_flags on completed_orders.order_id = order_flags.order_id
)

select * from final
