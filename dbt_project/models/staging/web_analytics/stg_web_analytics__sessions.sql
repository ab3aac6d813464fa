with latest_sessions as (
    {{ latest_delivery('web_analytics', 'sessions', ['session_id']) }}
),

final as (
    select
        session_id,
        visitor_id,
        customer_id,
        started_at,
        ended_at,
        channel,
        device,
        pageviews,
        added_to_cart as has_added_to_cart,
        started_checkout as has_started_checkout,
        _partition_date as delivered_date
    from latest_sessions
)

select * from final
