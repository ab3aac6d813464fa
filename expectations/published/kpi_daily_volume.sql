-- Daily volumes at company level beside the median of the 7 days before each: sessions, and
-- completed orders (the denominator of upsell_rate is exactly the completed orders of d).
with daily_volumes as (
    select date, 'sessions' as measure, value as volume
    from kpi_daily
    where kpi = 'sessions' and segment_type = 'all'
    union all
    select date, 'completed_orders' as measure, denominator as volume
    from kpi_daily
    where kpi = 'upsell_rate' and segment_type = 'all'
),

with_trailing_median as (
    select
        date,
        measure,
        volume,
        median(volume) over trailing_week as trailing_median,
        count(volume) over trailing_week as trailing_days
    from daily_volumes
    window trailing_week as (partition by measure order by date rows between 7 preceding and 1 preceding)
)

select
    cast(date as varchar) as date,
    measure,
    volume,
    trailing_median,
    -- A day is judged against a full trailing week, and only at volumes where a drop of the
    -- tolerance is a signal rather than counting noise ($volume_min_median).
    case
        when trailing_days = 7 and trailing_median >= $volume_min_median then volume / trailing_median
    end as ratio_to_trailing_median
from with_trailing_median
where date between $window_start and $window_end
