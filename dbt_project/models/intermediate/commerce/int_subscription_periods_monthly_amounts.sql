-- One row per subscription period with its monthly amount and the reporting days at whose
-- end it counts: it is in customer MRR at the end of day d when started_at < end of d and
-- (ended_at is null or ended_at >= end of d), i.e. for first_mrr_date <= d < end_mrr_date.
with subscription_periods as (
    select * from {{ ref('stg_shop__subscription_periods') }}
),

final as (
    select
        subscription_period_id,
        subscription_id,
        customer_id,
        product_id,
        billing_period,
        price,
        -- Exact to 12 decimals (not cents): decimals keep every later sum exact and the same
        -- whatever order a parallel aggregation adds in, so re-runs give identical tables.
        case
            when billing_period = 'year' then {{ divide_amount('price', '12') }}
            else cast(price as {{ exact_amount() }})
        end as monthly_amount,
        {{ to_reporting_date('started_at') }} as first_mrr_date,
        {{ to_reporting_date('ended_at') }} as end_mrr_date
    from subscription_periods
)

select * from final
