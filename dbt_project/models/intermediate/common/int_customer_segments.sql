-- Each customer in each segmentation the KPIs are cut by: the company ('all'), segment,
-- country and acquisition channel. Joining a customer-level fact to this and grouping by
-- (segment_type, segment_value) gives every cut with one query. Customers that appear in a
-- source but not in the shop's customer table (or every customer, when the shop is
-- switched off) are in the company level with 'unknown' attributes, so no cut drops them.
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

customer_ids as (
    select customer_id from customers
    union
    select customer_id from {{ ref('stg_shop__orders') }}
    union
    select customer_id from {{ ref('stg_shop__subscription_periods') }}
    union
    select customer_id from {{ ref('stg_survey_tool__survey_responses') }}
    union
    select customer_id from {{ ref('stg_back_office__support_tickets') }}
),

known_attributes as (
    select
        customer_ids.customer_id,
        customers.segment,
        customers.country,
        customers.acquisition_channel
    from customer_ids
    left join customers on customer_ids.customer_id = customers.customer_id
    where customer_ids.customer_id is not null
),

segmentations as (
    select customer_id, 'all' as segment_type, 'all' as segment_value from known_attributes
    union all
    select customer_id, 'segment' as segment_type, segment as segment_value from known_attributes
    union all
    select customer_id, 'country' as segment_type, country as segment_value from known_attributes
    union all
    select customer_id, 'acquisition_channel' as segment_type, acquisition_channel as segment_value
    from known_attributes
),

final as (
    select
        customer_id,
        segment_type,
        coalesce(segment_value, 'unknown') as segment_value
    from segmentations
)

select * from final
