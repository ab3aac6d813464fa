{#
    Grain test: no two rows share the same values of the given columns.
    (dbt_utils has one, but dbt packages would be fetched from outside the package registries.)
#}
{% test unique_combination(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as duplicate_rows
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
