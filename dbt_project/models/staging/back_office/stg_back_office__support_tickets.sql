with latest_support_tickets as (
    {{ latest_delivery('back_office', 'support_tickets', ['ticket_id'], 'updated_at') }}
),

final as (
    select
        ticket_id,
        customer_id,
        opened_at,
        resolved_at,
        channel as ticket_channel,
        cast(handling_cost as decimal(18, 4)) as handling_cost,
        updated_at,
        _partition_date as delivered_date
    from latest_support_tickets
)

select * from final
