{#- Channel KPIs per day and channel (GA4-style channel group). Spend from the ad platforms
    (reporting currency); sessions by the session's own channel; leads, orders, won deals and
    attributed revenue / gross profit by the default attribution model, last non-direct
    (credits are 0 or 1, so the counts are whole); new customers by first touch of their
    first purchase (B2C) or first won deal (B2B account), falling back to the conversion's
    own UTM channel, else channel 'Unassigned' — so unattributed customers never dilute the
    CAC of a paid channel. Revenue is our own (orders, won deals), never platform-reported. -#}

with

spend as (

    select
        spend_date as date_day,
        channel,
        sum(spend) as spend,
        sum(impressions) as impressions,
        sum(clicks) as clicks
    from {{ ref('fct_ad_spend_daily') }}
    group by spend_date, channel

),

sessions as (

    select
        session_date as date_day,
        channel,
        count(*) as sessions
    from {{ ref('fct_sessions') }}
    group by session_date, channel

),

attributed as (

    select
        cast(converted_at as date) as date_day,
        channel,
        sum(case when conversion_type = 'lead' then credit else 0 end) as leads,
        sum(case when conversion_type = 'order' then credit else 0 end) as orders,
        sum(case when conversion_type = 'won_deal' then credit else 0 end) as won_deals,
        sum(case when conversion_type = 'order' then attributed_revenue else 0 end) as order_revenue,
        sum(case when conversion_type = 'won_deal' then attributed_revenue else 0 end) as deal_revenue,
        sum(attributed_revenue) as attributed_revenue,
        sum(attributed_gross_profit) as attributed_gross_profit
    from {{ ref('fct_attribution') }}
    where attribution_model = 'last_non_direct'
    group by cast(converted_at as date), channel

),

acquired as (

    select
        cast(converted_at as date) as date_day,
        channel,
        sum(case when conversion_type = 'order' then credit else 0 end) as new_b2c_customers,
        sum(case when conversion_type = 'won_deal' then credit else 0 end) as new_b2b_accounts
    from {{ ref('fct_attribution') }}
    where attribution_model = 'first_touch'
        and is_new_customer
    group by cast(converted_at as date), channel

),

keys as (

    select date_day, channel from spend
    union
    select date_day, channel from sessions
    union
    select date_day, channel from attributed
    union
    select date_day, channel from acquired

),

joined as (

    select
        keys.date_day,
        {{ segmart.month_start('keys.date_day') }} as month_start,
        keys.channel,
        cast(coalesce(spend.spend, 0) as double) as spend,
        cast(coalesce(spend.impressions, 0) as bigint) as impressions,
        cast(coalesce(spend.clicks, 0) as bigint) as clicks,
        cast(coalesce(sessions.sessions, 0) as bigint) as sessions,
        cast(coalesce(attributed.leads, 0) as bigint) as leads,
        cast(coalesce(attributed.orders, 0) as bigint) as orders,
        cast(coalesce(attributed.won_deals, 0) as bigint) as won_deals,
        cast(coalesce(acquired.new_b2c_customers, 0) as bigint) as new_b2c_customers,
        cast(coalesce(acquired.new_b2b_accounts, 0) as bigint) as new_b2b_accounts,
        cast(coalesce(acquired.new_b2c_customers, 0) + coalesce(acquired.new_b2b_accounts, 0) as bigint)
            as new_customers,
        cast(coalesce(attributed.order_revenue, 0) as double) as order_revenue,
        cast(coalesce(attributed.deal_revenue, 0) as double) as deal_revenue,
        cast(coalesce(attributed.attributed_revenue, 0) as double) as attributed_revenue,
        cast(coalesce(attributed.attributed_gross_profit, 0) as double) as attributed_gross_profit
    from keys
    left join spend
        on keys.date_day = spend.date_day and keys.channel = spend.channel
    left join sessions
        on keys.date_day = sessions.date_day and keys.channel = sessions.channel
    left join attributed
        on keys.date_day = attributed.date_day and keys.channel = attributed.channel
    left join acquired
        on keys.date_day = acquired.date_day and keys.channel = acquired.channel

),

final as (

    select
        cast(date_day as {{ dbt.type_string() }}) || '|' || channel as channel_day_key,
        *,
        {{ segmart.channel_ratio_columns() }}
    from joined

)

select * from final
