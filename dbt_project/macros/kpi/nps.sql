{#- NPS of the responses in the group: % promoters (9-10) − % detractors (0-6), on a
    −100..100 scale; null without responses. Expects boolean columns is_promoter and
    is_detractor (fct_nps_responses); `condition` restricts the responses counted. -#}
{% macro nps(condition='1 = 1') -%}
    100.0 * {{ segmart.safe_divide(
        'sum(case when (' ~ condition ~ ') and is_promoter then 1 else 0 end)'
        ~ ' - sum(case when (' ~ condition ~ ') and is_detractor then 1 else 0 end)',
        'sum(case when (' ~ condition ~ ') then 1 else 0 end)',
    ) }}
{%- endmacro %}
