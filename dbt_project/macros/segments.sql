{#- Segment band definitions shared by marts and intermediate models (portable SQL). -#}

{#- Company size band from a number of employees. -#}
{% macro size_band(employees) -%}
    case
        when {{ employees }} is null or {{ employees }} <= 0 then 'unknown'
        when {{ employees }} < 10 then '1-9'
        when {{ employees }} < 50 then '10-49'
        when {{ employees }} < 200 then '50-199'
        when {{ employees }} < 500 then '200-499'
        when {{ employees }} < 1000 then '500-999'
        when {{ employees }} < 5000 then '1000-4999'
        else '5000+'
    end
{%- endmacro %}

{#- Annual revenue band (reporting currency, full units). -#}
{% macro revenue_band(amount) -%}
    case
        when {{ amount }} is null or {{ amount }} <= 0 then 'unknown'
        when {{ amount }} < 1000000 then '<1M'
        when {{ amount }} < 10000000 then '1M-10M'
        when {{ amount }} < 50000000 then '10M-50M'
        when {{ amount }} < 100000000 then '50M-100M'
        when {{ amount }} < 500000000 then '100M-500M'
        when {{ amount }} < 1000000000 then '500M-1B'
        else '1B+'
    end
{%- endmacro %}

{#- Percentile score 1..n of a window ordered by `order_expr` (ascending = higher score for
    higher values). Ties share the score of their lowest rank: score = 1 + floor(n * (rank - 1)
    / count), so equal values always get equal scores and the result is deterministic. -#}
{% macro ntile_with_ties(n, order_expr, partition_expr=none) -%}
    cast(1 + floor(
        {{ n }} * (rank() over ({% if partition_expr %}partition by {{ partition_expr }} {% endif %}order by {{ order_expr }}) - 1)
        / cast(count(*) over ({% if partition_expr %}partition by {{ partition_expr }}{% endif %}) as double)
    ) as integer)
{%- endmacro %}

{#- Readable purchase-frequency band from a number of purchase orders. -#}
{% macro frequency_band(orders) -%}
    case
        when {{ orders }} <= 1 then '1 order'
        when {{ orders }} <= 3 then '2-3 orders'
        when {{ orders }} <= 9 then '4-9 orders'
        else '10+ orders'
    end
{%- endmacro %}
