-- How each relationship-survey answer moves with overall experience over the 90 days ending
-- at the run's last day (kpi-catalogue.md, "Experience drivers"): Pearson correlation, over
-- relationship submissions that answered both questions, and the number of submissions.
with answers as (
    select * from {{ ref('int_survey_answers') }}
    where survey = 'relationship'
        and response_date <= {{ run_max_date() }}
        and response_date > {{ add_days(-90, run_max_date()) }}
),

submissions as (
    select
        submission_id,
        max(case when question = 'overall_experience' then score end) as overall_experience,
        max(case when question = 'likelihood_to_recommend' then score end) as likelihood_to_recommend,
        max(case when question = 'likelihood_to_switch' then score end) as likelihood_to_switch,
        max(case when question = 'likelihood_to_repurchase' then score end) as likelihood_to_repurchase
    from answers
    group by submission_id
),

{% set drivers = ['likelihood_to_recommend', 'likelihood_to_switch', 'likelihood_to_repurchase'] %}

final as (
    {%- for driver in drivers %}
    select
        {{ run_max_date() }} as as_of_date,
        '{{ driver }}' as driver_question,
        -- Undefined (null) for fewer than two pairs or a constant answer, on every adapter.
        case
            when stddev_samp({{ kpi_number('overall_experience') }}) > 0 and stddev_samp({{ kpi_number(driver) }}) > 0
                then corr({{ kpi_number('overall_experience') }}, {{ kpi_number(driver) }})
        end as correlation_with_overall_experience,
        count(*) as submissions
    from submissions
    where overall_experience is not null and {{ driver }} is not null
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select * from final
