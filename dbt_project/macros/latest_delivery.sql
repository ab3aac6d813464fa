{#
    The latest delivered version of each key of a raw source table, among the versions
    delivered up to the end of the run's last partition (var max_date) and, when delivered_from
    (a date expression) is given, from that partition day on: for a table whose records are all
    delivered on or after their own day, the restated days' records need no older delivery.

    Versions are ordered by the record's own version column (updated_at) where it has one,
    then by the later delivery: later partition day, then later extraction (source contract,
    "Conventions").
#}
{% macro latest_delivery(source_name, table_name, primary_key, version_column=none, delivered_from=none) %}
    select *
    from (
        select
            delivered.*,
            row_number() over (
                partition by {{ primary_key | join(', ') }}
                order by
                    {% if version_column %}{{ version_column }} desc nulls last,{% endif %}
                    _partition_date desc,
                    _extracted_at desc
            ) as delivery_rank
        from {{ loyalty_source(source_name, table_name) }} as delivered
        where _partition_date <= {{ run_max_date() }}
            {% if delivered_from %}and _partition_date >= {{ delivered_from }}{% endif %}
    ) as ranked_deliveries
    where delivery_rank = 1
{% endmacro %}
