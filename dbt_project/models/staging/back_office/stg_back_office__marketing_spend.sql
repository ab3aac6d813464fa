with latest_marketing_spend as (
    {{ latest_delivery('back_office', 'marketing_spend', ['spend_date', 'program', 'channel']) }}
),

final as (
    select
        spend_date,
        program as spend_program,
        channel as spend_channel,
        cast(amount as decimal(18, 4)) as spend_amount,
        _partition_date as delivered_date
    from latest_marketing_spend
)

select * from final
