-- Customers due for an NPS survey as of the run's last day (kpi-catalogue.md): accounts at
-- least var nps_min_account_age_days (30) old that have not answered likelihood_to_recommend
-- in the last var nps_survey_cooldown_days (90), so surveys reach neither brand-new
-- customers nor the same customer too often.
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

recommend_answers as (
    select customer_id, max(responded_at) as last_answered_at
    from {{ ref('int_survey_answers') }}
    where question = 'likelihood_to_recommend' and response_date <= {{ run_max_date() }}
    group by customer_id
),

final as (
    select
        customers.customer_id,
        {{ run_max_date() }} as as_of_date,
        customers.created_at,
        customers.segment,
        customers.country,
        customers.account_manager,
        recommend_answers.last_answered_at as last_nps_answer_at
    from customers
    left join recommend_answers on customers.customer_id = recommend_answers.customer_id
    where {{ to_reporting_date('customers.created_at') }}
            <= {{ add_days(-1 * var('nps_min_account_age_days', 30) | int, run_max_date()) }}
        and (
            recommend_answers.last_answered_at is null
            or {{ to_reporting_date('recommend_answers.last_answered_at') }}
            <= {{ add_days(-1 * var('nps_survey_cooldown_days', 90) | int, run_max_date()) }}
        )
)

select * from final
