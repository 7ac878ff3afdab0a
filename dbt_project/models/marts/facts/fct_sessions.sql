{#- Web sessions (from int_sessions) with their date, month, channel and normalised campaign
    key; purchase revenue is the web analytics' own (reporting currency), for conversion
    rates only — revenue KPIs use fct_orders. A table rebuilt on every run from the
    daily-partitioned int_sessions: person, account and campaign key come from the current
    identity map and campaigns, which data of any day can change. -#}

with

sessions as (

    select * from {{ ref('int_sessions') }}

),

touchpoints as (

    select session_id, person_key, account_id, campaign from {{ ref('fct_touchpoints') }}

),

final as (

    select
        sessions.session_id,
        touchpoints.person_key,
        touchpoints.account_id,
        sessions.user_pseudo_id,
        sessions.started_at,
        sessions.ended_at,
        sessions.session_date,
        {{ segmart.month_start('sessions.started_at') }} as session_month,
        cast(sessions.duration_seconds as double) as duration_seconds,
        sessions.landing_page,
        sessions.landing_page_topic,
        sessions.source,
        sessions.medium,
        touchpoints.campaign,
        sessions.channel_group as channel,
        sessions.source_origin,
        sessions.first_user_source,
        sessions.first_user_medium,
        sessions.first_user_campaign,
        sessions.first_user_channel_group as first_user_channel,
        sessions.device_category,
        sessions.country_code,
        cast(sessions.events as bigint) as events,
        cast(sessions.pageviews as bigint) as pageviews,
        sessions.has_purchase,
        sessions.purchase_revenue,
        cast(sessions.transactions as bigint) as transactions,
        sessions.is_first_visit
    from sessions
    left join touchpoints
        on sessions.session_id = touchpoints.session_id

)

select * from final
