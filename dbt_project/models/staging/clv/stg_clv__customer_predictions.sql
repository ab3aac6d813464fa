with customer_predictions as (
    select * from {{ loyalty_source('clv', 'customer_predictions', requires=['shop']) }}
),

final as (
    select
        cast(as_of_date as date) as as_of_date,
        customer_id,
        frequency,
        recency_days,
        age_days,
        mean_repeat_spend,
        probability_alive,
        expected_purchases_12m,
        expected_spend_per_purchase,
        clv_predicted_12m
    from customer_predictions
)

select * from final
