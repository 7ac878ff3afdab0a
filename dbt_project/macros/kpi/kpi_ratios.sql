{#- Ratio helpers shared by the KPI marts. A ratio is null (not 0, not an error) when its
    denominator is 0 or null, so BI tools show "no data" instead of a misleading value. -#}

{#- numerator / denominator as a double, null when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as double) / nullif(cast({{ denominator }} as double), 0))
{%- endmacro %}

{#- Spend-based ratio: null when there is no spend (organic, direct, unattributed rows), so
    a channel without ad spend shows no CAC / CPC / ROAS rather than 0. -#}
{% macro spend_ratio(numerator, denominator, spend) -%}
    case when {{ spend }} > 0 then {{ segmart.safe_divide(numerator, denominator) }} end
{%- endmacro %}

{#- The channel efficiency ratios, from additive columns of the same row. -#}
{% macro channel_ratio_columns(spend='spend', impressions='impressions', clicks='clicks',
    leads='leads', new_customers='new_customers', revenue='attributed_revenue',
    gross_profit='attributed_gross_profit') -%}
        {{ segmart.safe_divide(clicks, impressions) }} as ctr,
        {{ segmart.spend_ratio(spend, clicks, spend) }} as cpc,
        {{ segmart.spend_ratio(spend, leads, spend) }} as cost_per_lead,
        {{ segmart.spend_ratio(spend, new_customers, spend) }} as cac,
        {{ segmart.spend_ratio(revenue, spend, spend) }} as roas,
        {{ segmart.spend_ratio('(' ~ gross_profit ~ ') - (' ~ spend ~ ')', spend, spend) }} as romi
{%- endmacro %}
