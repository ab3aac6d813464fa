-- Satisfaction KPIs (kpi-catalogue.md) over the 30 days ending at d, for the days this run
-- restates, long format, cut by customer segment, country and acquisition channel.
-- NPS counts likelihood_to_recommend answers from every survey that asks it.
with days as (
    select date_day from {{ ref('int_days') }}
),

answers as (
    select * from {{ ref('int_survey_answers') }}
),

customer_segments as (
    select * from {{ ref('int_customer_segments') }}
),

spine as (
    {{ segment_spine('days', 'customer_segments') }}
),

answers_daily as (
    select
        answers.response_date as date_day,
        customer_segments.segment_type,
        customer_segments.segment_value,
        sum(case when answers.question = 'likelihood_to_recommend' then 1 else 0 end) as nps_answers,
        sum(case when answers.question = 'likelihood_to_recommend' and answers.score >= 9 then 1 else 0 end)
            as promoters,
        sum(case when answers.question = 'likelihood_to_recommend' and answers.score <= 6 then 1 else 0 end)
            as detractors,
        sum(case when answers.question = 'likelihood_to_recommend' then answers.score else 0 end) as recommend_score_sum,
        sum(case when answers.question = 'satisfaction' then 1 else 0 end) as csat_answers,
        sum(case when answers.question = 'satisfaction' and answers.score >= 4 then 1 else 0 end) as satisfied_answers,
        sum(case when answers.question = 'effort' then 1 else 0 end) as effort_answers,
        sum(case when answers.question = 'effort' then answers.score else 0 end) as effort_score_sum,
        sum(case when answers.question = 'likelihood_to_switch' then 1 else 0 end) as switch_answers,
        sum(case when answers.question = 'likelihood_to_switch' then answers.score else 0 end) as switch_score_sum,
        sum(case when answers.question = 'likelihood_to_repurchase' then 1 else 0 end) as repurchase_answers,
        sum(case when answers.question = 'likelihood_to_repurchase' then answers.score else 0 end)
            as repurchase_score_sum
    from answers
    inner join customer_segments on answers.customer_id = customer_segments.customer_id
    group by 1, 2, 3
),

{% set measures = [
    'nps_answers', 'promoters', 'detractors', 'recommend_score_sum', 'csat_answers', 'satisfied_answers',
    'effort_answers', 'effort_score_sum', 'switch_answers', 'switch_score_sum', 'repurchase_answers',
    'repurchase_score_sum'] %}

windowed as (
    select
        spine.date_day,
        spine.segment_type,
        spine.segment_value,
        {%- for measure in measures %}
        sum(coalesce(answers_daily.{{ measure }}, 0)) over last_30_days as {{ measure }}{{ "," if not loop.last }}
        {%- endfor %}
    from spine
    left join answers_daily
        on spine.date_day = answers_daily.date_day
        and spine.segment_type = answers_daily.segment_type
        and spine.segment_value = answers_daily.segment_value
    window last_30_days as (
        partition by spine.segment_type, spine.segment_value
        order by spine.date_day
        rows between 29 preceding and current row
    )
),

kpi_inputs as (
    select
        windowed.*,
        100 * (promoters - detractors) as nps_points,
        {{ safe_ratio('promoters', 'nps_answers') }} as promoter_share,
        {{ safe_ratio('detractors', 'nps_answers') }} as detractor_share
    from windowed
    where date_day >= {{ restated_from_date() }}
),

kpis as (
    {{ union_enabled_kpis([
        (['survey_tool'], kpi_ratio('nps_30d', 'nps_points', 'nps_answers')),
        (['survey_tool'], kpi_value(
            'nps_30d_margin_of_error',
            '100 * 1.96 * sqrt((promoter_share + detractor_share - (promoter_share - detractor_share) * (promoter_share - detractor_share)) / ' ~ kpi_number('nullif(nps_answers, 0)') ~ ')')),
        (['survey_tool'], kpi_ratio('csat_30d', 'satisfied_answers', 'csat_answers')),
        (['survey_tool'], kpi_ratio('ces_30d', 'effort_score_sum', 'effort_answers')),
        (['survey_tool'], kpi_ratio('likelihood_to_recommend_30d', 'recommend_score_sum', 'nps_answers')),
        (['survey_tool'], kpi_ratio('likelihood_to_switch_30d', 'switch_score_sum', 'switch_answers')),
        (['survey_tool'], kpi_ratio('likelihood_to_repurchase_30d', 'repurchase_score_sum', 'repurchase_answers')),
    ]) }}
),

final as (
    select
        kpis.*,
        'satisfaction' as stage
    from kpis
)

select * from final
