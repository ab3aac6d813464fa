{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date',
        on_schema_change='fail'
    )
}}
-- Every daily KPI of kpi-catalogue.md, one row per (date, kpi, segment_type, segment_value).
-- Each run replaces the days it restates (its partitions and the lookback before them).
with acquisition as (
    select * from {{ ref('int_kpis__acquisition') }}
),

retention as (
    select * from {{ ref('int_kpis__retention') }}
),

satisfaction as (
    select * from {{ ref('int_kpis__satisfaction') }}
),

efficiency as (
    select * from {{ ref('int_kpis__efficiency') }}
),

derived as (
    select * from {{ ref('int_kpis__derived') }}
),

predicted_clv as (
    select * from {{ ref('int_kpis__predicted_clv') }}
),

all_kpis as (
    select * from acquisition
    union all
    select * from retention
    union all
    select * from satisfaction
    union all
    select * from efficiency
    union all
    select * from derived
    union all
    select * from predicted_clv
),

final as (
    select
        cast(date_day as date) as date,
        cast(kpi as {{ dbt.type_string() }}) as kpi,
        cast(stage as {{ dbt.type_string() }}) as stage,
        cast(segment_type as {{ dbt.type_string() }}) as segment_type,
        cast(segment_value as {{ dbt.type_string() }}) as segment_value,
        cast(kpi_value as double precision) as value,
        cast(numerator as double precision) as numerator,
        cast(denominator as double precision) as denominator
    from all_kpis
    where date_day <= {{ run_max_date() }}
)

select * from final
