-- MRR movements by calendar month (kpi-catalogue.md, "Other published tables"): from each
-- customer's MRR at the end of month m-1 and at the end of m. One row per month that has
-- ended inside the published range. closing = opening + new + reactivation + expansion
-- - contraction - churned, to the cent.
with periods as (
    select * from {{ ref('int_subscription_periods_monthly_amounts') }}
),

published_months as (
    select
        cast({{ dbt.date_trunc('month', "cast('" ~ var('start_date') ~ "' as date)") }} as date) as first_month,
        cast({{ dbt.date_trunc('month', add_days(1, run_max_date())) }} as date) as after_last_month
),

-- Every month from the one before the first subscription (or before the first published
-- month) to the last published month: "new" needs the MRR at every earlier month end.
spine_bounds as (
    select
        {{ dbt.dateadd('month', -1, 'least(coalesce(min(periods.first_mrr_date), max(published_months.first_month)), max(published_months.first_month))') }} as first_month,
        max(published_months.after_last_month) as last_month
    from published_months
    left join periods on 1 = 1
),

month_ends as (
    select
        month_start,
        cast({{ dbt.last_day('month_start', 'month') }} as date) as month_end_date
    from ({{ month_starts('first_month', 'last_month', 'spine_bounds') }}) as months
),

customers as (
    select distinct customer_id from periods
),

customer_month_mrr as (
    select
        month_ends.month_start,
        customers.customer_id,
        coalesce(sum(periods.monthly_amount), 0) as mrr
    from month_ends
    cross join customers
    left join periods
        on periods.customer_id = customers.customer_id
        and periods.first_mrr_date <= month_ends.month_end_date
        and (periods.end_mrr_date is null or periods.end_mrr_date > month_ends.month_end_date)
    group by 1, 2
),

customer_month_history as (
    select
        month_start,
        customer_id,
        mrr as closing_mrr,
        coalesce(lag(mrr) over customer_months, 0) as opening_mrr,
        coalesce(
            max(mrr) over (
                partition by customer_id order by month_start rows between unbounded preceding and 2 preceding
            ),
            0
        ) as max_mrr_before_opening
    from customer_month_mrr
    window customer_months as (partition by customer_id order by month_start)
),

classified as (
    select
        month_start,
        opening_mrr,
        closing_mrr,
        case when opening_mrr = 0 and closing_mrr > 0 and max_mrr_before_opening = 0 then closing_mrr else 0 end
            as new_mrr,
        case when opening_mrr = 0 and closing_mrr > 0 and max_mrr_before_opening > 0 then closing_mrr else 0 end
            as reactivation_mrr,
        case when opening_mrr > 0 and closing_mrr > opening_mrr then closing_mrr - opening_mrr else 0 end
            as expansion_mrr,
        case when opening_mrr > 0 and closing_mrr > 0 and closing_mrr < opening_mrr then opening_mrr - closing_mrr else 0 end
            as contraction_mrr,
        case when opening_mrr > 0 and closing_mrr = 0 then opening_mrr else 0 end as churned_mrr
    from customer_month_history
),

movements as (
    select
        month_start,
        sum(opening_mrr) as opening_mrr,
        sum(new_mrr) as new_mrr,
        sum(reactivation_mrr) as reactivation_mrr,
        sum(expansion_mrr) as expansion_mrr,
        sum(contraction_mrr) as contraction_mrr,
        sum(churned_mrr) as churned_mrr,
        sum(closing_mrr) as closing_mrr
    from classified
    group by month_start
),

final as (
    select
        month_ends.month_start as month,
        -- Typed, not left to the adapter: PostgreSQL's sum of a decimal has no scale.
        cast(coalesce(movements.opening_mrr, 0) as {{ exact_amount() }}) as opening_mrr,
        cast(coalesce(movements.new_mrr, 0) as {{ exact_amount() }}) as new_mrr,
        cast(coalesce(movements.reactivation_mrr, 0) as {{ exact_amount() }}) as reactivation_mrr,
        cast(coalesce(movements.expansion_mrr, 0) as {{ exact_amount() }}) as expansion_mrr,
        cast(coalesce(movements.contraction_mrr, 0) as {{ exact_amount() }}) as contraction_mrr,
        cast(coalesce(movements.churned_mrr, 0) as {{ exact_amount() }}) as churned_mrr,
        cast(coalesce(movements.closing_mrr, 0) as {{ exact_amount() }}) as closing_mrr
    from month_ends
    cross join published_months
    left join movements on month_ends.month_start = movements.month_start
    where month_ends.month_start >= published_months.first_month
        and month_ends.month_end_date <= {{ run_max_date() }}
)

select * from final
