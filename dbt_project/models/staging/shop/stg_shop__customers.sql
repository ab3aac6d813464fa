with latest_customers as (
    {{ latest_delivery('shop', 'customers', ['customer_id'], 'updated_at') }}
),

final as (
    select
        customer_id,
        created_at,
        upper(country) as country,
        acquisition_channel,
        segment,
        account_manager,
        updated_at,
        _partition_date as delivered_date
    from latest_customers
)

select * from final
