-- Marketing spend per day and program (acquisition, retention), summed over channels.
with marketing_spend as (
    select * from {{ ref('stg_back_office__marketing_spend') }}
),

final as (
    select
        spend_date,
        sum(case when spend_program = 'acquisition' then spend_amount else 0 end) as acquisition_spend,
        sum(case when spend_program = 'retention' then spend_amount else 0 end) as retention_spend
    from marketing_spend
    group by spend_date
)

select * from final
