{#- Daily ad spend (int_ad_spend_prorated: period-grain rows spread over their days) in the
    reporting currency (FX of the spend date) with the source, medium and channel group of
    the platform (seed ad_platform_channels: the campaign type the platform reports, e.g.
    Google Ads Performance Max → Cross-network, comes first; else a campaign-name pattern can
    refine the platform default, e.g. Google Ads video campaigns → Paid Video). `campaign` is
    the lower-cased campaign name (else id), the value to match utm_campaign with. -#}

with

spend as (

    select * from {{ ref('int_ad_spend_prorated') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

platform_rules as (

    select * from {{ ref('ad_platform_channels') }}

),

rule_matches as (

    select
        spend.spend_date,
        spend.platform,
        spend.ad_account_id,
        spend.campaign_id,
        platform_rules.source,
        platform_rules.medium,
        platform_rules.channel_group,
        row_number() over (
            partition by spend.spend_date, spend.platform, spend.ad_account_id, spend.campaign_id
            order by platform_rules.rule_order
        ) as match_rank
    from spend
    inner join platform_rules
        on spend.platform = platform_rules.platform
        and (platform_rules.campaign_type is null
            or lower(spend.campaign_type) = platform_rules.campaign_type)
        and (platform_rules.campaign_pattern is null
            or {{ segmart.regex_matches('lower(coalesce(spend.campaign_name, spend.campaign_id))', 'platform_rules.campaign_pattern') }})

),

final as (

    select
        spend.spend_date,
        spend.platform,
        spend.ad_account_id,
        spend.campaign_id,
        spend.campaign_name,
        spend.campaign_type,
        lower(coalesce(spend.campaign_name, spend.campaign_id)) as campaign,
        coalesce(rule_matches.source, spend.platform) as source,
        coalesce(rule_matches.medium, 'paid') as medium,
        coalesce(rule_matches.channel_group, 'Paid Other') as channel_group,
        spend.impressions,
        spend.clicks,
        spend.spend,
        spend.currency_code,
        case when spend.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            else fx.rate_to_reporting end as fx_rate,
        spend.spend * case when spend.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            else fx.rate_to_reporting end as spend_rc,
        spend.platform_conversions,
        spend.platform_conversion_value,
        spend.is_prorated,
        spend.period_start,
        spend.period_end
    from spend
    left join fx
        on spend.spend_date = fx.date_day
        and spend.currency_code = fx.currency_code
    left join rule_matches
        on spend.spend_date = rule_matches.spend_date
        and spend.platform = rule_matches.platform
        and coalesce(spend.ad_account_id, '') = coalesce(rule_matches.ad_account_id, '')
        and spend.campaign_id = rule_matches.campaign_id
        and rule_matches.match_rank = 1

)

select * from final
