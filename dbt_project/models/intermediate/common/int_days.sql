-- One row per reporting day from the first partition (var start_date) to the run's last (max_date).
with spine as (
    {{ dbt.date_spine('day', "cast('" ~ var('start_date') ~ "' as date)", dbt.dateadd('day', 1, run_max_date())) }}
),

final as (
    select cast(date_day as date) as date_day
    from spine
)

select * from final
