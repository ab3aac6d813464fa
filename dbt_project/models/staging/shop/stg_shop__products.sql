with latest_products as (
    {{ latest_delivery('shop', 'products', ['product_id'], 'updated_at') }}
),

final as (
    select
        product_id,
        name as product_name,
        product_line,
        tier,
        is_subscription,
        billing_period,
        cast(list_price as decimal(18, 4)) as list_price,
        cast(unit_cost as decimal(18, 4)) as unit_cost,
        updated_at,
        _partition_date as delivered_date
    from latest_products
)

select * from final
