{#- Marketing touchpoints (one per web session) with the account of the person, and the
    campaign normalised to the ad platforms' campaign names: a utm_campaign holding a
    platform's numeric campaign id becomes that campaign's name, so spend and attributed
    revenue meet on the same campaign key. -#}

with

touchpoints as (

    select * from {{ ref('int_touchpoints') }}

),

people as (

    select person_key, account_id from {{ ref('int_people_resolved') }}

),

campaign_ids as (

    {#- a numeric id seen on two platforms maps to one name deterministically -#}
    select
        lower(campaign_id) as campaign_id,
        min(campaign) as campaign
    from {{ ref('dim_campaigns') }}
    group by lower(campaign_id)

),

final as (

    select
        touchpoints.touchpoint_id,
        touchpoints.touchpoint_type,
        touchpoints.session_id,
        touchpoints.person_key,
        people.account_id,
        touchpoints.touched_at,
        cast(touchpoints.touched_at as date) as touched_date,
        touchpoints.channel_group as channel,
        touchpoints.source,
        touchpoints.medium,
        coalesce(
            campaign_ids.campaign,
            case when touchpoints.campaign not in ('(not set)', '(none)', '') then touchpoints.campaign end
        ) as campaign,
        touchpoints.landing_page,
        touchpoints.is_direct,
        touchpoints.has_purchase
    from touchpoints
    left join people
        on touchpoints.person_key = people.person_key
    left join campaign_ids
        on touchpoints.campaign = campaign_ids.campaign_id

)

select * from final
