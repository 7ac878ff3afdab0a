{#- Portable date/time helpers. DuckDB is the default implementation; Spark overrides. -#}

{#- Whole days from start to end (end - start), on dates or timestamps. -#}
{% macro days_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('days_between', 'segmart')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__days_between(start_expr, end_expr) -%}
    date_diff('day', cast({{ start_expr }} as date), cast({{ end_expr }} as date))
{%- endmacro %}
{% macro spark__days_between(start_expr, end_expr) -%}
    cast(datediff(cast({{ end_expr }} as date), cast({{ start_expr }} as date)) as bigint)
{%- endmacro %}

{#- Seconds from start to end (end - start) between two timestamps. -#}
{% macro seconds_between(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('seconds_between', 'segmart')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__seconds_between(start_expr, end_expr) -%}
    (epoch({{ end_expr }}) - epoch({{ start_expr }}))
{%- endmacro %}
{% macro spark__seconds_between(start_expr, end_expr) -%}
    (unix_timestamp({{ end_expr }}) - unix_timestamp({{ start_expr }}))
{%- endmacro %}

{#- A date plus a whole number of days (the number may be an expression). -#}
{% macro add_days(date_expr, days_expr) -%}
    {{ return(adapter.dispatch('add_days', 'segmart')(date_expr, days_expr)) }}
{%- endmacro %}
{% macro default__add_days(date_expr, days_expr) -%}
    cast(cast({{ date_expr }} as date) + cast({{ days_expr }} as integer) as date)
{%- endmacro %}
{% macro spark__add_days(date_expr, days_expr) -%}
    date_add(cast({{ date_expr }} as date), cast({{ days_expr }} as int))
{%- endmacro %}

{#- A date plus a whole number of months. -#}
{% macro add_months(date_expr, months_expr) -%}
    {{ return(adapter.dispatch('add_months', 'segmart')(date_expr, months_expr)) }}
{%- endmacro %}
{% macro default__add_months(date_expr, months_expr) -%}
    cast(cast({{ date_expr }} as date) + to_months(cast({{ months_expr }} as integer)) as date)
{%- endmacro %}
{% macro spark__add_months(date_expr, months_expr) -%}
    add_months(cast({{ date_expr }} as date), cast({{ months_expr }} as int))
{%- endmacro %}

{#- First day of the month of a date or timestamp, as a date. -#}
{% macro month_start(expr) -%}
    {{ return(adapter.dispatch('month_start', 'segmart')(expr)) }}
{%- endmacro %}
{% macro default__month_start(expr) -%}
    cast(date_trunc('month', cast({{ expr }} as date)) as date)
{%- endmacro %}
{% macro spark__month_start(expr) -%}
    trunc(cast({{ expr }} as date), 'MM')
{%- endmacro %}

{#- Whole months from start to end (calendar months between the month starts). -#}
{% macro months_between_starts(start_expr, end_expr) -%}
    ((year({{ end_expr }}) - year({{ start_expr }})) * 12 + month({{ end_expr }}) - month({{ start_expr }}))
{%- endmacro %}

{#- Months since year 0 (year × 12 + month): an integer to order months by, e.g. in a
    `range between 11 preceding and current row` window over monthly rows. -#}
{% macro month_index(expr) -%}
    (year({{ expr }}) * 12 + month({{ expr }}))
{%- endmacro %}

{#- A relation with one column `date_day`, one row per day from start to end (inclusive).
    Both arguments are SQL expressions evaluating to dates (scalar subqueries allowed). -#}
{% macro date_spine(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('date_spine', 'segmart')(start_expr, end_expr)) }}
{%- endmacro %}
{% macro default__date_spine(start_expr, end_expr) -%}
    select cast(unnest(generate_series(
        cast({{ start_expr }} as date), cast({{ end_expr }} as date), interval 1 day
    )) as date) as date_day
{%- endmacro %}
{% macro spark__date_spine(start_expr, end_expr) -%}
    select explode(sequence(
        cast({{ start_expr }} as date), cast({{ end_expr }} as date), interval 1 day
    )) as date_day
{%- endmacro %}

{#- The run's "today" as a date; var `as_of_date` pins it (tests, backfills). -#}
{% macro as_of_date() -%}
    {%- if var('as_of_date', none) -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        current_date
    {%- endif -%}
{%- endmacro %}
