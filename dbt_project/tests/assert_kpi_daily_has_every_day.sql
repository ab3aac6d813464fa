-- Every day of the published range has its company-level KPIs: no missing dates.
with days as (
    select date_day from {{ ref('int_days') }}
),

published_days as (
    select distinct date from {{ ref('kpi_daily') }}
    where segment_type = 'all'
)

select days.date_day
from days
left join published_days on days.date_day = published_days.date
where published_days.date is null
