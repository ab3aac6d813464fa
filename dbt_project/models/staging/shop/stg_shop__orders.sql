with latest_orders as (
    {{ latest_delivery('shop', 'orders', ['order_id'], 'updated_at') }}
),

final as (
    select
        order_id,
        customer_id,
        session_id,
        ordered_at,
        status as order_status,
        refunded_at,
        updated_at,
        _partition_date as delivered_date
    from latest_orders
)

select * from final
