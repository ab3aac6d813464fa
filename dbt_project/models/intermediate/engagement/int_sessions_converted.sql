-- One row per web session with its reporting day and whether it converted: some order of
-- any status but cancelled names it in session_id (kpi-catalogue.md, "Converted session").
with sessions as (
    select * from {{ ref('stg_web_analytics__sessions') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

converting_sessions as (
    select distinct session_id
    from orders
    where session_id is not null and order_status <> 'cancelled'
),

final as (
    select
        sessions.session_id,
        sessions.visitor_id,
        sessions.customer_id,
        {{ to_reporting_date('sessions.started_at') }} as session_date,
        sessions.channel,
        sessions.has_added_to_cart,
        converting_sessions.session_id is not null as is_converted
    from sessions
    left join converting_sessions on sessions.session_id = converting_sessions.session_id
)

select * from final
