{#
    A source table, or an empty relation of the same columns when its source system is
    switched off (var disabled_sources): downstream KPIs are then absent, never an error.
    requires names the source systems the table comes from when that is not source_name
    itself (the clv files are computed from the shop's orders).
    source() is always called, so the dependency is in the graph whatever the vars.
#}
{% macro loyalty_source(source_name, table_name, requires=none) %}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and not sources_enabled(requires or [source_name]) -%}
        ({{ empty_source(source_name, table_name) }})
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{% endmacro %}

{% macro empty_source(source_name, table_name) %}
    {%- set node = graph.sources.values() | selectattr('source_name', 'equalto', source_name)
        | selectattr('name', 'equalto', table_name) | first -%}
    select
    {%- for column in node.columns.values() %}
        cast(null as {{ column.data_type }}) as {{ column.name }},
    {%- endfor %}
        cast(null as date) as _partition_date,
        cast(null as {{ dbt.type_timestamp() }}) as _extracted_at
    where 1 = 0
{% endmacro %}
