-- KPIs defined from other KPIs (kpi-catalogue.md): ltv_formula = arpa × gross_margin_rate_30d
-- / subscriber_churn_rate_30d, with the 30-day churn rate as the monthly churn; null when
-- churn is 0 or any input is null.
with retention as (
    select * from {{ ref('int_kpis__retention') }}
),

efficiency as (
    select * from {{ ref('int_kpis__efficiency') }}
),

inputs as (
    select
        retention.date_day,
        retention.segment_type,
        retention.segment_value,
        max(case when retention.kpi = 'arpa' then retention.kpi_value end) as arpa,
        max(case when retention.kpi = 'subscriber_churn_rate_30d' then retention.kpi_value end) as churn_rate
    from retention
    group by 1, 2, 3
),

kpi_inputs as (
    select
        inputs.date_day,
        inputs.segment_type,
        inputs.segment_value,
        case
            when inputs.churn_rate is null or inputs.churn_rate = 0 then null
            else inputs.arpa * efficiency.kpi_value / inputs.churn_rate
        end as ltv_formula
    from inputs
    inner join efficiency
        on inputs.date_day = efficiency.date_day
        and inputs.segment_type = efficiency.segment_type
        and inputs.segment_value = efficiency.segment_value
        and efficiency.kpi = 'gross_margin_rate_30d'
),

kpis as (
    {{ union_enabled_kpis([
        (['shop'], kpi_value('ltv_formula', 'ltv_formula')),
    ]) }}
),

final as (
    select
        kpis.*,
        'efficiency' as stage
    from kpis
)

select * from final
