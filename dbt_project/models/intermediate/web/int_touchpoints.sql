{#- Marketing touchpoints, the input of attribution: one row per web session with its
    channel, source, medium and campaign, the person it belongs to (null for anonymous
    visitors never identified) and when it happened. -#}

with

sessions as (

    select * from {{ ref('int_sessions') }}

),

final as (

    select
        session_id as touchpoint_id,
        'web_session' as touchpoint_type,
        session_id,
        person_key,
        user_pseudo_id,
        visitor_key,
        started_at as touched_at,
        channel_group,
        source,
        medium,
        campaign,
        landing_page,
        channel_group = 'Direct' as is_direct,
        has_purchase,
        purchase_revenue
    from sessions

)

select * from final
