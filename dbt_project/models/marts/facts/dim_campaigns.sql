{#- One row per ad campaign (platform, campaign id; the name when a UI report has no id)
    seen in the spend reports (day grain: a period report counts for each day of its period), with the
    campaign key that spend, sessions and attribution share: the lower-cased campaign name
    (utm_campaign is lower-cased in staging), or the campaign id when the name is missing. -#}

with

spend as (

    select * from {{ ref('int_ad_spend_prorated') }}

),

campaigns as (

    select
        platform,
        campaign_id,
        {{ segmart.arg_max('campaign_name', 'spend_date') }} as campaign_name,
        {{ segmart.arg_max('campaign_type', 'spend_date') }} as campaign_type,
        min(spend_date) as first_spend_date,
        max(spend_date) as last_spend_date
    from spend
    group by platform, campaign_id

),

final as (

    select
        platform || '|' || campaign_id as campaign_key,
        platform,
        campaign_id,
        campaign_name,
        campaign_type,
        lower(coalesce(campaign_name, campaign_id)) as campaign,
        first_spend_date,
        last_spend_date
    from campaigns

)

select * from final
