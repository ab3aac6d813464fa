{#
    A select of one row per month start (column month_start, a date) from the month of
    start_expression to the month of end_expression, both inclusive. The bounds may come
    from data (a column of the from_clause), which dbt.date_spine cannot do.
#}
{% macro month_starts(start_expression, end_expression, from_clause) %}
    {{ return(adapter.dispatch('month_starts')(start_expression, end_expression, from_clause)) }}
{% endmacro %}

{% macro default__month_starts(start_expression, end_expression, from_clause) %}
    select cast(generate_series(
        {{ dbt.date_trunc('month', start_expression) }},
        {{ dbt.date_trunc('month', end_expression) }},
        interval '1 month'
    ) as date) as month_start
    from {{ from_clause }}
{% endmacro %}

{% macro duckdb__month_starts(start_expression, end_expression, from_clause) %}
    select cast(unnest(generate_series(
        cast({{ dbt.date_trunc('month', start_expression) }} as timestamp),
        cast({{ dbt.date_trunc('month', end_expression) }} as timestamp),
        interval '1 month'
    )) as date) as month_start
    from {{ from_clause }}
{% endmacro %}
