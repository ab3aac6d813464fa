-- Handling cost of support tickets per customer and reporting day the ticket was opened.
with support_tickets as (
    select * from {{ ref('stg_back_office__support_tickets') }}
),

final as (
    select
        customer_id,
        {{ to_reporting_date('opened_at') }} as opened_date,
        count(*) as tickets_opened,
        sum(handling_cost) as handling_cost
    from support_tickets
    group by 1, 2
)

select * from final
