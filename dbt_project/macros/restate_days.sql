{#
    Pre-hook of an incremental model restated by reporting day: on an incremental run, delete
    the rows of the days this run restates (restated_from_date() .. run_max_date()), which the
    model then appends again. Days outside the window keep what the last run restating them
    wrote, as in kpi_daily; a day left with no rows (a corrected export) is emptied, which
    delete+insert by day would not do. dbt runs the hook in the model's transaction, so a run
    killed in between leaves the previous rows. period='month' restates whole calendar months
    (a date column holding each month's first day) from the month of the first restated day.
#}
{% macro restate_days(date_column, period='day') %}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ date_column }} between {{ restated_from(period) }} and {{ run_max_date() }}
    {%- endif -%}
{% endmacro %}

{#- The first day (period='day') or the first month's first day (period='month') a run restates. -#}
{% macro restated_from(period='day') -%}
    {%- if period == 'month' -%}
        cast({{ dbt.date_trunc('month', restated_from_date()) }} as date)
    {%- else -%}
        {{ restated_from_date() }}
    {%- endif -%}
{%- endmacro %}
