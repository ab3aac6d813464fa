-- clv_predicted_12m_avg (kpi-catalogue.md, efficiency): mean predicted 12-month CLV over
-- customers with at least one completed order up to d, for the days this run restates.
-- The predicted-CLV step fits the models for each of those days and writes the sum and the
-- count (clv/daily/<d>.parquet); company level only, since the models are fitted on the
-- whole customer base. A day whose models could not be fitted has a null value.
with daily_predictions as (
    select * from {{ ref('stg_clv__daily_predictions') }}
    where as_of_date >= {{ restated_from_date() }} and as_of_date <= {{ run_max_date() }}
),

kpi_inputs as (
    select
        as_of_date as date_day,
        'all' as segment_type,
        'all' as segment_value,
        clv_predicted_12m_sum,
        customers
    from daily_predictions
),

kpis as (
    {{ union_enabled_kpis([
        (['shop'], kpi_ratio('clv_predicted_12m_avg', 'clv_predicted_12m_sum', 'customers')),
    ]) }}
),

final as (
    select
        kpis.*,
        'efficiency' as stage
    from kpis
)

select * from final
