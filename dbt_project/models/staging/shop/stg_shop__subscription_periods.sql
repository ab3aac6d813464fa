with latest_subscription_periods as (
    {{ latest_delivery('shop', 'subscription_periods', ['subscription_period_id'], 'updated_at') }}
),

final as (
    select
        subscription_period_id,
        subscription_id,
        customer_id,
        product_id,
        started_at,
        ended_at,
        billing_period,
        cast(price as decimal(18, 4)) as price,
        updated_at,
        _partition_date as delivered_date
    from latest_subscription_periods
)

select * from final
