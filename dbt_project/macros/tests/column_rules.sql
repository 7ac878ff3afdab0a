{#- Generic test: the per-column rules of one model, checked in a single query (issue 20.4).

    Replaces one dbt test per column and rule (`not_null`, `unique`, `accepted_values`, each
    its own scan and its own dbt node) by one test per model:

        data_tests:
          - column_rules:
              arguments:
                not_null: [account_id, region]
                unique: [account_id]
                accepted_values: {motion: [b2b, b2c, b2g, hybrid], r_score: [1, 2, 3, 4, 5]}

    Same meaning as dbt's built-in tests: `not_null` fails on a null; `unique` on a non-null
    value that occurs more than once (nulls are left to `not_null`); `accepted_values` on a
    non-null value outside the list (strings are quoted, numbers and booleans are not).

    The test returns one row per broken rule: `column_name`, `rule`, `failing_rows` (rows that
    break it: null rows, rows of a duplicated value, rows with a value not accepted) and up to
    two offending values (`sample_min`, `sample_max`, as text); dbt counts the failing rows
    (fail_calc), so "Got N results" is the number of bad rows. `dbt test --store-failures` (or
    the compiled SQL, path in the log) shows the rows. Portable: only `case`, `min` / `max`,
    `group by` and dbt's cross-database type macros.
-#}
{% test column_rules(model, not_null=[], unique=[], accepted_values={}) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
{%- set text = dbt.type_string() -%}
{%- set bigint = dbt.type_bigint() -%}
{%- set accepted = accepted_values.items() | list -%}

with

{% for column in unique %}
duplicated_{{ loop.index }} as (

    select
        {{ column }} as value,
        count(*) as occurrences
    from {{ model }}
    where {{ column }} is not null
    group by {{ column }}
    having count(*) > 1

),

{% endfor %}
checked as (

    select
        {%- for column in not_null %}
        sum(case when {{ column }} is null then 1 else 0 end) as null_rows_{{ loop.index }},
        {%- endfor %}
        {%- for column, values in accepted %}
        {%- set in_list = column_rules_literals(values) %}
        sum(
            case when {{ column }} not in ({{ in_list }}) then 1 else 0 end
        ) as rejected_rows_{{ loop.index }},
        min(
            case when {{ column }} not in ({{ in_list }}) then cast({{ column }} as {{ text }}) end
        ) as rejected_min_{{ loop.index }},
        max(
            case when {{ column }} not in ({{ in_list }}) then cast({{ column }} as {{ text }}) end
        ) as rejected_max_{{ loop.index }},
        {%- endfor %}
        count(*) as checked_rows
    from {{ model }}

),

failures as (

    select
        cast(null as {{ text }}) as column_name,
        cast(null as {{ text }}) as rule,
        cast(0 as {{ bigint }}) as failing_rows,
        cast(null as {{ text }}) as sample_min,
        cast(null as {{ text }}) as sample_max
    from checked
    where 1 = 0
    {%- for column in not_null %}

    union all

    select
        '{{ column }}',
        'not_null',
        cast(coalesce(null_rows_{{ loop.index }}, 0) as {{ bigint }}),
        cast(null as {{ text }}),
        cast(null as {{ text }})
    from checked
    {%- endfor %}
    {%- for column, values in accepted %}

    union all

    select
        '{{ column }}',
        'accepted_values',
        cast(coalesce(rejected_rows_{{ loop.index }}, 0) as {{ bigint }}),
        rejected_min_{{ loop.index }},
        rejected_max_{{ loop.index }}
    from checked
    {%- endfor %}
    {%- for column in unique %}

    union all

    select
        '{{ column }}',
        'unique',
        cast(coalesce(sum(occurrences), 0) as {{ bigint }}),
        min(cast(value as {{ text }})),
        max(cast(value as {{ text }}))
    from duplicated_{{ loop.index }}
    {%- endfor %}

)

select * from failures
where failing_rows > 0

{% endtest %}


{#- The SQL literals of an accepted_values list: strings quoted (quotes doubled), numbers and
    booleans as they are. -#}
{% macro column_rules_literals(values) %}
{%- set out = [] -%}
{%- for value in values -%}
    {%- if value is string -%}
        {%- do out.append("'" ~ value | replace("'", "''") ~ "'") -%}
    {%- elif value is sameas true or value is sameas false -%}
        {%- do out.append(value | string | lower) -%}
    {%- else -%}
        {%- do out.append(value | string) -%}
    {%- endif -%}
{%- endfor -%}
{{ return(out | join(', ')) }}
{% endmacro %}
