{#
    Text compared by code point, as the catalogue orders order_ids ('o-10' before 'o-9').
    PostgreSQL compares text by the database collation unless told otherwise.
#}
{% macro codepoint_order(column) %}
    {{ return(adapter.dispatch('codepoint_order')(column)) }}
{% endmacro %}

{% macro default__codepoint_order(column) %}{{ column }}{% endmacro %}

{% macro postgres__codepoint_order(column) %}{{ column }} collate "C"{% endmacro %}
