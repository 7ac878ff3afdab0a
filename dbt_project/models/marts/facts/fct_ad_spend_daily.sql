{{ config(
    materialized='incremental',
    incremental_strategy=segmart.window_strategy(),
    partition_by=segmart.window_partition_by('spend_date'),
    on_schema_change='fail',
    meta={'window_column': 'spend_date'},
    tags=['daily_partitioned'],
) }}

{#- Daily ad spend per platform, ad account and campaign: spend in the original currency
    and in the reporting currency (FX of the spend date), impressions, clicks, the channel of
    the platform / campaign type / campaign and the shared campaign key. A UI report without a
    Day column gives is_prorated days: its period's figures spread evenly over its days
    (int_ad_spend_prorated), so daily and monthly KPIs split a period by its days. Platform-reported conversions are
    kept for reference only; no revenue KPI reads them.
    Daily-partitioned and incremental (macros/incremental/window.sql): every column is a
    function of the row's own day (spend, FX of that date, seed rules), so an incremental
    run replaces the days of its window, look-back included: revised conversions of those
    days replace the old ones. -#}

with

spend as (

    select * from {{ ref('int_ad_spend_converted') }}
    {%- if is_incremental() %}
    where {{ segmart.in_window('spend_date') }}
    {%- endif %}

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
