{#- Channel results per month, channel and derived motion (b2b / b2c / b2g / hybrid /
    unknown of the converting customer or account): leads, purchases, won deals and
    attributed revenue by last non-direct, new customers by first touch — the same
    definitions as kpi_channel_monthly. No spend or cost ratios: ad spend is reported per
    campaign, not per motion, so it cannot be split without an allocation rule. -#}

with

attribution as (

    select * from {{ ref('fct_attribution') }}
    where attribution_model in ('last_non_direct', 'first_touch')
        and credit > 0

),

aggregated as (

    select
        conversion_month as month_start,
        channel,
        coalesce(motion, 'unknown') as motion,
        sum(case when attribution_model = 'last_non_direct' and conversion_type = 'lead'
            then credit else 0 end) as leads,
        sum(case when attribution_model = 'last_non_direct' and conversion_type = 'order'
            then credit else 0 end) as orders,
        sum(case when attribution_model = 'last_non_direct' and conversion_type = 'won_deal'
            then credit else 0 end) as won_deals,
        sum(case when attribution_model = 'first_touch' and is_new_customer
            then credit else 0 end) as new_customers,
        sum(case when attribution_model = 'last_non_direct'
            then attributed_revenue else 0 end) as attributed_revenue,
        sum(case when attribution_model = 'last_non_direct'
            then attributed_gross_profit else 0 end) as attributed_gross_profit
    from attribution
    group by conversion_month, channel, coalesce(motion, 'unknown')

),

final as (

    select
        cast(month_start as {{ dbt.type_string() }}) || '|' || channel || '|' || motion
            as channel_motion_month_key,
        month_start,
        channel,
        motion,
        cast(leads as bigint) as leads,
        cast(orders as bigint) as orders,
        cast(won_deals as bigint) as won_deals,
        cast(new_customers as bigint) as new_customers,
        cast(attributed_revenue as double) as attributed_revenue,
        cast(attributed_gross_profit as double) as attributed_gross_profit,
        {{ segmart.safe_divide('attributed_revenue', 'orders + won_deals') }}
            as revenue_per_conversion
    from aggregated

)

select * from final
