-- Only the deliveries a run restates from: a session is delivered in the file of the day it
-- started or re-delivered later, never earlier (the raw rule "started_at is not after the
-- partition day", a reporting day), so every version of a session of a restated day is
-- delivered on or after the first restated day. One day more costs little and keeps that
-- true should partitions and reporting days ever differ. A build from the sources' first
-- partition reads every delivery; a first run of a later partition reads only its window's,
-- all its KPIs need (earlier days' sessions come with the runs of their partitions).
with latest_sessions as (
    {{ latest_delivery('web_analytics', 'sessions', ['session_id'],
        delivered_from=add_days(-1, restated_from_date())) }}
),

final as (
    select
        session_id,
        visitor_id,
        customer_id,
        started_at,
        ended_at,
        channel,
        device,
        pageviews,
        added_to_cart as has_added_to_cart,
        started_checkout as has_started_checkout,
        _partition_date as delivered_date
    from latest_sessions
)

select * from final
