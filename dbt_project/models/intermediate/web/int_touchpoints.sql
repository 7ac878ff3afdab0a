{#- Marketing touchpoints, the input of attribution: one row per web session with its
    channel, source, medium and campaign, the person it belongs to (null for anonymous
    visitors never identified) and when it happened. The person is resolved here, on every
    build, from the session's device id (else its user id) with the current identity map:
    a visitor who logs in later moves all their earlier sessions to the person. -#}

with

sessions as (

    select * from {{ ref('int_sessions') }}

),

identity as (

    select * from {{ ref('int_identity') }}

),

resolved as (

    {#- an event's person is that of its device id, else of its user id, and a session's
        events share its visitor key (device id, else user id): so this is the person of
        every event of the session -#}
    select
        sessions.*,
        coalesce(by_pseudo_id.person_key, by_user_id.person_key) as person_key
    from sessions
    left join identity as by_pseudo_id
        on by_pseudo_id.identifier_type = 'user_pseudo_id'
        and sessions.user_pseudo_id = by_pseudo_id.identifier_value
    left join identity as by_user_id
        on by_user_id.identifier_type = 'user_id'
        and sessions.user_id = by_user_id.identifier_value

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
        first_user_channel_group,
        source,
        medium,
        campaign,
        landing_page,
        channel_group = 'Direct' as is_direct,
        has_purchase,
        purchase_revenue
    from resolved

)

select * from final
