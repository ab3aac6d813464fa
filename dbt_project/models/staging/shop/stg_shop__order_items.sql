with latest_order_items as (
    {{ latest_delivery('shop', 'order_items', ['order_id', 'line_number']) }}
),

final as (
    select
        order_id,
        line_number,
        product_id,
        quantity,
        cast(unit_price as decimal(18, 4)) as unit_price,
        cast(unit_cost as decimal(18, 4)) as unit_cost,
        cast(discount_amount as decimal(18, 4)) as discount_amount,
        _partition_date as delivered_date
    from latest_order_items
)

select * from final
