{#-
    Amounts that come from a division (a yearly plan's price / 12, a share of spend): exact
    decimals to 12 places, so sums over them are exact and independent of summation order.
-#}
{% macro exact_amount() -%}
    decimal(38, 12)
{%- endmacro %}

{#-
    numerator / denominator for an amount: exact, rounded half away from zero to the 12
    places of exact_amount(), and the same on every adapter; null for a zero denominator.
    The numerator has at most 12 decimals, the denominator is an integer (a count, 12).
    A plain `/` would not do: DuckDB divides decimals in double precision, so about one
    quotient in 200 lands on the other side of the 12th decimal than PostgreSQL's exact
    numeric division. Both get integer arithmetic on units of 1e-12 instead.
-#}
{% macro divide_amount(numerator, denominator) -%}
    {{ return(adapter.dispatch('divide_amount')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__divide_amount(numerator, denominator) -%}
    cast(
        sign({{ numerator }})
        * div(
            2 * abs(cast({{ numerator }} as {{ exact_amount() }})) * 1000000000000 + nullif({{ denominator }}, 0),
            2 * nullif({{ denominator }}, 0)
        )
        * 0.000000000001
        as {{ exact_amount() }}
    )
{%- endmacro %}

{#- DuckDB's // truncates hugeints exactly; numerator units of 1e-12 fit a hugeint below 10^26. -#}
{% macro duckdb__divide_amount(numerator, denominator) -%}
    cast(
        cast(
            sign({{ numerator }})
            * (
                (2 * cast(abs(cast({{ numerator }} as {{ exact_amount() }})) * 1000000000000 as hugeint)
                    + nullif({{ denominator }}, 0))
                // (2 * nullif({{ denominator }}, 0))
            )
            as decimal(38, 0)
        ) * cast(0.000000000001 as {{ exact_amount() }})
        as {{ exact_amount() }}
    )
{%- endmacro %}

{#- KPI values are stored as double precision: float in DuckDB would be 4-byte. -#}
{% macro kpi_number(expression) -%}
    cast({{ expression }} as double precision)
{%- endmacro %}

{#- numerator / denominator, null when the denominator is 0 or null (never 0, never an error). -#}
{% macro safe_ratio(numerator, denominator) -%}
    case
        when {{ denominator }} is null or {{ denominator }} = 0 then null
        else {{ kpi_number(numerator) }} / {{ kpi_number(denominator) }}
    end
{%- endmacro %}

{#-
    One long-format KPI row per input row (kpi_daily's shape). A ratio KPI keeps the
    numerator and denominator of its definition, so BI can re-aggregate it as
    sum(numerator) / sum(denominator); a stock or count keeps only its value.
-#}
{% macro kpi_ratio(kpi, numerator, denominator, inputs='kpi_inputs') -%}
    select
        date_day,
        segment_type,
        segment_value,
        '{{ kpi }}' as kpi,
        {{ kpi_number(numerator) }} as numerator,
        {{ kpi_number(denominator) }} as denominator,
        {{ safe_ratio(numerator, denominator) }} as kpi_value
    from {{ inputs }}
{%- endmacro %}

{% macro kpi_value(kpi, value, inputs='kpi_inputs') -%}
    select
        date_day,
        segment_type,
        segment_value,
        '{{ kpi }}' as kpi,
        cast(null as double precision) as numerator,
        cast(null as double precision) as denominator,
        {{ kpi_number(value) }} as kpi_value
    from {{ inputs }}
{%- endmacro %}

{#- Every day of days_relation with every (segment_type, segment_value) cut seen by that day:
    the company every day, a segment from the day its first customer appears (first_seen_date). -#}
{% macro segment_spine(days_relation, segments_relation) -%}
    select
        days.date_day,
        segments.segment_type,
        segments.segment_value
    from {{ days_relation }} as days
    inner join (
        select segment_type, segment_value, min(first_seen_date) as first_seen_date
        from {{ segments_relation }}
        group by segment_type, segment_value
    ) as segments
        on segments.segment_type = 'all' or segments.first_seen_date <= days.date_day
{%- endmacro %}
