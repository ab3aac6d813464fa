with latest_survey_responses as (
    {{ latest_delivery('survey_tool', 'survey_responses', ['response_id']) }}
),

final as (
    select
        response_id,
        submission_id,
        customer_id,
        survey,
        question,
        score,
        responded_at,
        ticket_id,
        comment as response_comment,
        _partition_date as delivered_date
    from latest_survey_responses
)

select * from final
