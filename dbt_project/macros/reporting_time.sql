{#
    Reporting-day arithmetic (kpi-catalogue.md, "Shared terms"): a record belongs to the day
    of its timestamp in the reporting time zone (var reporting_timezone). Source timestamps
    are naive UTC. `at time zone` works the same on DuckDB (ICU, built in) and PostgreSQL.
#}

{% macro to_reporting_timestamp(column) -%}
    {%- set timezone = var('reporting_timezone', 'UTC') -%}
    {%- if timezone | upper == 'UTC' -%}
        {{ column }}
    {%- else -%}
        cast(({{ column }} at time zone 'UTC') at time zone '{{ timezone | replace("'", "''") }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{% macro to_reporting_date(column) -%}
    cast({{ to_reporting_timestamp(column) }} as date)
{%- endmacro %}

{#- A run's first and last partition day: LOYALTY_RUN_MIN_DATE / LOYALTY_RUN_MAX_DATE when set
    (as the pipeline does), else the vars min_date / max_date (by hand, unit tests). The pipeline
    uses the environment because dbt re-parses the whole project whenever a var changes, and the
    window changes every run; a changed environment variable re-parses only the files using it. -#}
{% macro run_min_date() -%}
    cast('{{ env_var("LOYALTY_RUN_MIN_DATE", var("min_date")) }}' as date)
{%- endmacro %}

{% macro run_max_date() -%}
    cast('{{ env_var("LOYALTY_RUN_MAX_DATE", var("max_date")) }}' as date)
{%- endmacro %}

{#- The first reporting day a run recomputes: min_date minus the lookback for late records. -#}
{% macro restated_from_date() -%}
    {{ add_days(-1 * var('lookback_days', 35) | int, run_min_date()) }}
{%- endmacro %}

{#- A date n days after (or before, n < 0) a date expression, as a date on every adapter. -#}
{% macro add_days(days, date_expression) -%}
    cast({{ dbt.dateadd('day', days, date_expression) }} as date)
{%- endmacro %}
