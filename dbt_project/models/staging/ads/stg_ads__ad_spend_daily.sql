with

source as (

    select * from {{ source('ads', 'ad_spend_daily') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['spend_date', 'period_end', 'platform', 'ad_account_id', 'campaign_id'], updated_column=none) }}

),

final as (

    select
        spend_date,
        period_start,
        period_end,
        lower(trim(platform)) as platform,
        {{ segmart.clean_text('ad_account_id') }} as ad_account_id,
        trim(campaign_id) as campaign_id,
        {{ segmart.clean_text('campaign_name') }} as campaign_name,
        {{ segmart.clean_text('campaign_type') }} as campaign_type,
        coalesce(impressions, 0) as impressions,
        coalesce(clicks, 0) as clicks,
        spend,
        upper(trim(currency)) as currency_code,
        platform_conversions,
        platform_conversion_value,
        _source_system as source_system,
        _ingested_at as ingested_at
    from deduped

)

select * from final
