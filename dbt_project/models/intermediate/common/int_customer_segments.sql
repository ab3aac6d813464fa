-- Each customer in each segmentation the KPIs are cut by: the company ('all'), segment,
-- country and acquisition channel. Joining a customer-level fact to this and grouping by
-- (segment_type, segment_value) gives every cut with one query. Customers that appear in a
-- source but not in the shop's customer table (or every customer, when the shop is
-- switched off) are in the company level with 'unknown' attributes, so no cut drops them.
-- first_seen_date (the customer's earliest record of any source, by its event time) lets
-- the KPI spines list a segment only from the day its first customer appears: the same rows
-- whichever run last restated a day.
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

customer_records as (
    select customer_id, created_at as recorded_at from customers
    union all
    select customer_id, ordered_at as recorded_at from {{ ref('stg_shop__orders') }}
    union all
    select customer_id, started_at as recorded_at from {{ ref('stg_shop__subscription_periods') }}
    union all
    select customer_id, responded_at as recorded_at from {{ ref('stg_survey_tool__survey_responses') }}
    union all
    select customer_id, opened_at as recorded_at from {{ ref('stg_back_office__support_tickets') }}
),

customer_ids as (
    select
        customer_id,
        {{ to_reporting_date('min(recorded_at)') }} as first_seen_date
    from customer_records
    where customer_id is not null
    group by customer_id
),

known_attributes as (
    select
        customer_ids.customer_id,
        customer_ids.first_seen_date,
        customers.segment,
        customers.country,
        customers.acquisition_channel
    from customer_ids
    left join customers on customer_ids.customer_id = customers.customer_id
),

segmentations as (
    select customer_id, first_seen_date, 'all' as segment_type, 'all' as segment_value from known_attributes
    union all
    select customer_id, first_seen_date, 'segment' as segment_type, segment as segment_value from known_attributes
    union all
    select customer_id, first_seen_date, 'country' as segment_type, country as segment_value from known_attributes
    union all
    select customer_id, first_seen_date, 'acquisition_channel' as segment_type, acquisition_channel as segment_value
    from known_attributes
),

final as (
    select
        customer_id,
        segment_type,
        coalesce(segment_value, 'unknown') as segment_value,
        first_seen_date
    from segmentations
)

select * from final
