{#- Campaign KPIs per month, channel and campaign. The campaign key is the lower-cased
    campaign name of the ad platforms (a utm_campaign holding a numeric campaign id is mapped
    to its name); traffic without a campaign is '(none)'. Leads and revenue by last
    non-direct attribution, new customers by first touch, as in kpi_channel_monthly. -#}

with

spend as (

    select
        spend_month as month_start,
        channel,
        coalesce(campaign, '(none)') as campaign,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from {{ ref('fct_ad_spend_daily') }}
    group by spend_month, channel, coalesce(campaign, '(none)')

),

sessions as (

    select
        session_month as month_start,
        channel,
        coalesce(campaign, '(none)') as campaign,
        count(*) as sessions
    from {{ ref('fct_sessions') }}
    group by session_month, channel, coalesce(campaign, '(none)')

),

attributed as (

    select
        conversion_month as month_start,
        channel,
        coalesce(campaign, '(none)') as campaign,
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
    from {{ ref('fct_attribution') }}
    where attribution_model in ('last_non_direct', 'first_touch')
    group by conversion_month, channel, coalesce(campaign, '(none)')

),

keys as (

    select month_start, channel, campaign from spend
    union
    select month_start, channel, campaign from sessions
    union
    select month_start, channel, campaign from attributed

),

joined as (

    select
        keys.month_start,
        keys.channel,
        keys.campaign,
        cast(coalesce(spend.spend, 0) as double) as spend,
        cast(coalesce(spend.impressions, 0) as bigint) as impressions,
        cast(coalesce(spend.clicks, 0) as bigint) as clicks,
        cast(coalesce(sessions.sessions, 0) as bigint) as sessions,
        cast(coalesce(attributed.leads, 0) as bigint) as leads,
        cast(coalesce(attributed.orders, 0) as bigint) as orders,
        cast(coalesce(attributed.won_deals, 0) as bigint) as won_deals,
        cast(coalesce(attributed.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(attributed.attributed_revenue, 0) as double) as attributed_revenue,
        cast(coalesce(attributed.attributed_gross_profit, 0) as double) as attributed_gross_profit
    from keys
    left join spend
        on keys.month_start = spend.month_start
        and keys.channel = spend.channel
        and keys.campaign = spend.campaign
    left join sessions
        on keys.month_start = sessions.month_start
        and keys.channel = sessions.channel
        and keys.campaign = sessions.campaign
    left join attributed
        on keys.month_start = attributed.month_start
        and keys.channel = attributed.channel
        and keys.campaign = attributed.campaign

),

final as (

    select
        cast(month_start as {{ dbt.type_string() }}) || '|' || channel || '|' || campaign
            as campaign_month_key,
        *,
        {{ segmart.channel_ratio_columns() }}
    from joined

)

select * from final
