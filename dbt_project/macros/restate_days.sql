{#
    Pre-hook of an incremental model restated by reporting day: on an incremental run, delete
    the rows of the days this run restates (restated_from_date() .. run_max_date()), which the
    model then inserts again. Days outside the window keep what the last run restating them
    wrote, as in kpi_daily; a day left with no rows (a corrected export) is emptied, which
    delete+insert by the model's own key would not do. dbt runs the hook in the model's
    transaction, so a run killed in between leaves the previous rows.
#}
{% macro restate_days(date_column) %}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ date_column }} between {{ restated_from_date() }} and {{ run_max_date() }}
    {%- endif -%}
{% endmacro %}
