-- The KPI rows a run (re)computed: from its first day minus the lookback to its last day.
select
    cast(date as varchar) as date,
    kpi,
    stage,
    segment_type,
    segment_value,
    value,
    numerator,
    denominator
from kpi_daily
where date between $restated_from and $window_end
