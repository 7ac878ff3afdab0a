{#- Channel KPIs per month and channel: the monthly sums of kpi_channel_daily with the ratios
    recomputed from the sums (never averaged). Attribution model: last non-direct for
    leads and revenue, first touch for new customers (see kpi_channel_monthly_by_model for
    every model). -#}

with

daily as (

    select * from {{ ref('kpi_channel_daily') }}

),

monthly as (

    select
        month_start,
        channel,
        sum(spend) as spend,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        cast(sum(sessions) as bigint) as sessions,
        cast(sum(leads) as bigint) as leads,
        cast(sum(orders) as bigint) as orders,
        cast(sum(won_deals) as bigint) as won_deals,
        cast(sum(new_b2c_customers) as bigint) as new_b2c_customers,
        cast(sum(new_b2b_accounts) as bigint) as new_b2b_accounts,
        cast(sum(new_customers) as bigint) as new_customers,
        sum(order_revenue) as order_revenue,
        sum(deal_revenue) as deal_revenue,
        sum(attributed_revenue) as attributed_revenue,
        sum(attributed_gross_profit) as attributed_gross_profit
    from daily
    group by month_start, channel

),

final as (

    select
        cast(month_start as {{ dbt.type_string() }}) || '|' || channel as channel_month_key,
        *,
        {{ segmart.channel_ratio_columns() }}
    from monthly

)

select * from final
