with daily_predictions as (
    select * from {{ loyalty_source('clv', 'daily_predictions', requires=['shop']) }}
),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        customers,
        repeat_customers,
        clv_predicted_12m_sum,
        clv_predicted_12m_avg,
        gross_margin_rate,
        monthly_discount_rate,
        fit_status
    from daily_predictions
)

select * from final
