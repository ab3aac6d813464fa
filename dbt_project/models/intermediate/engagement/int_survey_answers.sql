-- One row per survey answer with its reporting day; the unit of every satisfaction KPI.
with survey_responses as (
    select * from {{ ref('stg_survey_tool__survey_responses') }}
),

final as (
    select
        response_id,
        submission_id,
        customer_id,
        survey,
        question,
        score,
        ticket_id,
        responded_at,
        {{ to_reporting_date('responded_at') }} as response_date
    from survey_responses
)

select * from final
