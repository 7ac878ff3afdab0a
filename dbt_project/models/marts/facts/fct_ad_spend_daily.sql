{#- Daily ad spend per platform, ad account and campaign: spend in the original currency
    and in the reporting currency (FX of the spend date), impressions, clicks, the channel of
    the platform / campaign type / campaign and the shared campaign key. A UI report without a
    Day column gives is_prorated days: its period's figures spread evenly over its days
    (int_ad_spend_prorated), so daily and monthly KPIs split a period by its days. Platform-reported conversions are
    kept for reference only; no revenue KPI reads them.
    A plain table, rebuilt in every run: ad spend is a few rows per campaign and day, so a
    restated report (revised spend or conversions of past days) is simply read again. -#}

with

spend as (

    select * from {{ ref('int_ad_spend_converted') }}

),

final as (

    select
        spend.platform || '|' || coalesce(spend.ad_account_id, '-') || '|' || spend.campaign_id
            || '|' || cast(spend.spend_date as {{ dbt.type_string() }}) as ad_spend_key,
        spend.spend_date,
        {{ segmart.month_start('spend.spend_date') }} as spend_month,
        spend.platform,
        spend.ad_account_id,
        spend.campaign_id,
        spend.campaign_name,
        spend.campaign_type,
        spend.campaign,
        spend.source,
        spend.medium,
        spend.channel_group as channel,
        spend.impressions,
        spend.clicks,
        spend.currency_code,
        spend.spend as spend_original,
        spend.fx_rate,
        spend.spend_rc as spend,
        spend.platform_conversions,
        spend.platform_conversion_value,
        spend.is_prorated,
        spend.period_start,
        spend.period_end
    from spend

)

select * from final
