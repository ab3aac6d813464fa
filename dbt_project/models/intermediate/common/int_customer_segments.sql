-- Each customer in each segmentation the KPIs are cut by: the company ('all'), segment,
-- country and acquisition channel. Joining a customer-level fact to this and grouping by
-- (segment_type, segment_value) gives every cut with one query.
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

segmentations as (
    select customer_id, 'all' as segment_type, 'all' as segment_value from customers
    union all
    select customer_id, 'segment' as segment_type, segment as segment_value from customers
    union all
    select customer_id, 'country' as segment_type, country as segment_value from customers
    union all
    select customer_id, 'acquisition_channel' as segment_type, acquisition_channel as segment_value from customers
),

final as (
    select
        customer_id,
        segment_type,
        coalesce(segment_value, 'unknown') as segment_value
    from segmentations
)

select * from final
