{#- Day `day_number` (1..days) of a total spread evenly over `days` days, rounded to
    `decimals`: round(total * i / n) - round(total * (i - 1) / n). The running totals are
    rounded, not the days, so the days of a period sum back exactly to round(total, decimals)
    (the rounding remainder falls on the days where the running total crosses a unit). Plain
    SQL, the same on every adapter. -#}
{% macro spread_evenly(total_expr, day_expr, days_expr, decimals) -%}
    (round(cast({{ total_expr }} as double) * {{ day_expr }} / {{ days_expr }}, {{ decimals }})
        - round(cast({{ total_expr }} as double) * ({{ day_expr }} - 1) / {{ days_expr }}, {{ decimals }}))
{%- endmacro %}
