{#- A relation with one column `month_start`: the first day of every month from the month
    of `start_expr` to the month of `end_expr` (both SQL date expressions, scalar subqueries
    allowed). Built on the portable segmart.date_spine. -#}
{% macro month_spine(start_expr, end_expr) -%}
    select cast(date_day as date) as month_start
    from ({{ segmart.date_spine(
        segmart.month_start(start_expr),
        end_expr,
    ) }}) as days
    where extract(day from date_day) = 1
{%- endmacro %}
