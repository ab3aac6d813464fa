{#- Whether every named source system is switched on (var disabled_sources). -#}
{% macro sources_enabled(source_names) -%}
    {%- set disabled = var('disabled_sources', []) -%}
    {{- return(source_names | select('in', disabled) | list | length == 0) -}}
{%- endmacro %}

{#-
    The union of the KPI selects whose source systems are all switched on: a KPI whose
    source a deployment lacks is absent, never zero. kpis is a list of (sources, select).
-#}
{% macro union_enabled_kpis(kpis) -%}
    {%- set selects = [] -%}
    {%- for sources, kpi_select in kpis if sources_enabled(sources) -%}
        {%- do selects.append(kpi_select) -%}
    {%- endfor -%}
    {%- if selects -%}
        {{ selects | join('\n    union all\n    ') }}
    {%- else -%}
        select
            cast(null as date) as date_day,
            cast(null as {{ dbt.type_string() }}) as segment_type,
            cast(null as {{ dbt.type_string() }}) as segment_value,
            cast(null as {{ dbt.type_string() }}) as kpi,
            cast(null as double precision) as numerator,
            cast(null as double precision) as denominator,
            cast(null as double precision) as kpi_value
        where 1 = 0
    {%- endif -%}
{%- endmacro %}
