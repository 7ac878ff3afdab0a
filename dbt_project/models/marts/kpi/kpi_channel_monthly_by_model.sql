{#- Channel KPIs per month, channel and attribution model (long form): attributed leads,
    orders, won deals, new customers (fractional credits), revenue and gross profit, with
    spend repeated on every model's row so ROAS, ROMI, CAC and cost per lead compare
    across models. Sum one model at a time: summing across models multiplies the totals. -#}

with

spend as (

    select
        spend_month as month_start,
        channel,
        sum(spend) as spend
    from {{ ref('fct_ad_spend_daily') }}
    group by spend_month, channel

),

attributed as (

    select
        conversion_month as month_start,
        channel,
        attribution_model,
        sum(case when conversion_type = 'lead' then cast(credit as double) else 0 end) as leads,
        sum(case when conversion_type = 'order' then cast(credit as double) else 0 end) as orders,
        sum(case when conversion_type = 'won_deal' then cast(credit as double) else 0 end) as won_deals,
        sum(attributed_new_customers) as new_customers,
        sum(attributed_revenue) as attributed_revenue,
        sum(attributed_gross_profit) as attributed_gross_profit
    from {{ ref('fct_attribution') }}
    group by conversion_month, channel, attribution_model

),

attribution_models as (

    select distinct attribution_model from {{ ref('fct_attribution') }}

),

keys as (

    select spend.month_start, spend.channel, attribution_models.attribution_model
    from spend
    cross join attribution_models
    union
    select month_start, channel, attribution_model from attributed

),

joined as (

    select
        keys.month_start,
        keys.channel,
        keys.attribution_model,
        cast(coalesce(spend.spend, 0) as double) as spend,
        cast(coalesce(attributed.leads, 0) as double) as leads,
        cast(coalesce(attributed.orders, 0) as double) as orders,
        cast(coalesce(attributed.won_deals, 0) as double) as won_deals,
        cast(coalesce(attributed.new_customers, 0) as double) as new_customers,
        cast(coalesce(attributed.attributed_revenue, 0) as double) as attributed_revenue,
        cast(coalesce(attributed.attributed_gross_profit, 0) as double) as attributed_gross_profit
    from keys
    left join spend
        on keys.month_start = spend.month_start and keys.channel = spend.channel
    left join attributed
        on keys.month_start = attributed.month_start
        and keys.channel = attributed.channel
        and keys.attribution_model = attributed.attribution_model

),

final as (

    select
        cast(month_start as {{ dbt.type_string() }}) || '|' || channel || '|' || attribution_model
            as channel_month_model_key,
        *,
        {{ segmart.spend_ratio('spend', 'leads', 'spend') }} as cost_per_lead,
        {{ segmart.spend_ratio('spend', 'new_customers', 'spend') }} as cac,
        {{ segmart.spend_ratio('attributed_revenue', 'spend', 'spend') }} as roas,
        {{ segmart.spend_ratio('attributed_gross_profit - spend', 'spend', 'spend') }} as romi
    from joined

)

select * from final
