{{ config(
    materialized=segmart.incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='visitor_key',
    on_schema_change='fail',
) }}

{#- Web sessions. Where the export has its own session id (GA4's ga_session_id), a session
    is GA4's: the visitor (user_pseudo_id) + that id, never split or merged. The events of an
    export without one are sessionised: a visitor's session ends after
    var('session_timeout_minutes') of inactivity, and (when
    var('new_session_on_campaign_change')) a hit carrying a traffic source different from the
    last one seen starts a new session. session_number counts all of a visitor's sessions by
    start time.
    The session's source / medium / campaign / channel are those the export itself recorded
    for the session (session_* of its first event carrying one: GA4's
    session_traffic_source_last_click, source / medium / campaign event params,
    collected_traffic_source), else those of its first hit (URL UTMs, click id, referrer).
    first_user_* are the user's first-acquisition source the export recorded (GA4
    traffic_source), from the session's first event carrying one.
    A purchase is an event named 'purchase' or one with a transaction id (GA4's
    '(not set)' placeholder is null since ingest, so add_to_cart and friends are not).
    Incremental on load time (macros/incremental/load_time.sql): a run re-sessionises the
    whole history of every visitor with an event loaded since the last build (session numbers
    count every earlier session; a late event may join or split sessions) and replaces all
    sessions of those visitors (unique key visitor_key). ingested_at is the latest load time
    of the session's events.
    The person is resolved downstream (int_touchpoints), so identity changes never leave a
    stale person on an old session. -#}

{%- set timeout_seconds = var('session_timeout_minutes') | int * 60 %}

with

events as (

    select
        *,
        case
            when has_traffic_source
                then traffic_source || '|' || traffic_medium || '|' || traffic_campaign
        end as campaign_key,
        case when source_session_id is null then 'visit' else 'export' end as session_kind
    from {{ ref('int_events_channeled') }}
    {%- if is_incremental() %}
    where visitor_key in (
        select visitor_key from {{ ref('int_events_channeled') }}
        where {{ segmart.loaded_since_last_build() }}
    )
    {%- endif %}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

with_previous as (

    select
        *,
        lag(event_at) over (
            partition by visitor_key, session_kind order by event_at, event_id
        ) as previous_event_at,
        {{ segmart.last_value_ignore_nulls('campaign_key') }} over (
            partition by visitor_key, session_kind order by event_at, event_id
            rows between unbounded preceding and 1 preceding
        ) as previous_campaign_key
    from events

),

flagged as (

    select
        *,
        case
            when previous_event_at is null then 1
            when {{ segmart.seconds_between('previous_event_at', 'event_at') }} > {{ timeout_seconds }} then 1
            {% if var('new_session_on_campaign_change') -%}
            when campaign_key is not null and campaign_key <> coalesce(previous_campaign_key, '') then 1
            {%- endif %}
            else 0
        end as is_session_start
    from with_previous

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by visitor_key, session_kind order by event_at, event_id
            rows between unbounded preceding and current row
        ) as visit_number
    from flagged

),

keyed as (

    select
        *,
        case
            when source_session_id is null
                then {{ segmart.surrogate_key("visitor_key || '|' || cast(visit_number as " ~ dbt.type_string() ~ ")") }}
            else {{ segmart.surrogate_key("visitor_key || '|ga:' || source_session_id") }}
        end as session_id
    from numbered

),

sessioned as (

    select
        *,
        row_number() over (
            partition by session_id order by event_at, event_id
        ) as session_event_number
    from keyed

),

converted as (

    select
        sessioned.*,
        case when sessioned.event_name = 'purchase' or sessioned.transaction_id is not null
            then sessioned.revenue * coalesce(fx.rate_to_reporting, case
                when sessioned.currency_code is null
                    or sessioned.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            end)
        end as purchase_revenue_rc
    from sessioned
    left join fx
        on cast(sessioned.event_at as date) = fx.date_day
        and sessioned.currency_code = fx.currency_code

),

aggregated as (

    select
        session_id,
        visitor_key,
        max(user_pseudo_id) as user_pseudo_id,
        max(user_id) as user_id,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as events,
        cast(sum(case when event_name in ('page_view', 'pageview', 'screen_view') then 1 else 0 end) as bigint) as pageviews,
        max(case when event_name = 'purchase' or transaction_id is not null then 1 else 0 end) = 1
            as has_purchase,
        sum(coalesce(purchase_revenue_rc, 0)) as purchase_revenue_rc,
        count(distinct transaction_id) as transactions,
        max(ingested_at) as ingested_at
    from converted
    group by session_id, visitor_key

),

numbered_sessions as (

    select
        *,
        row_number() over (
            partition by visitor_key order by started_at, session_id
        ) as session_number
    from aggregated

),

first_hits as (

    select * from sessioned
    where session_event_number = 1

),

export_sourced as (

    {#- the session's first event carrying the source the export recorded for it -#}
    select
        session_id,
        session_traffic_source,
        session_traffic_medium,
        session_traffic_campaign,
        session_channel_group,
        row_number() over (partition by session_id order by event_at, event_id) as source_rank
    from sessioned
    where has_session_source

),

first_user_sourced as (

    select
        session_id,
        first_user_source,
        first_user_medium,
        first_user_campaign,
        first_user_channel_group,
        row_number() over (partition by session_id order by event_at, event_id) as source_rank
    from sessioned
    where has_first_user_source

),

final as (

    select
        aggregated.session_id,
        aggregated.user_pseudo_id,
        aggregated.user_id,
        aggregated.visitor_key,
        aggregated.session_number,
        aggregated.started_at,
        aggregated.ended_at,
        cast(aggregated.started_at as date) as session_date,
        {{ segmart.seconds_between('aggregated.started_at', 'aggregated.ended_at') }} as duration_seconds,
        first_hits.page_path as landing_page,
        first_hits.page_topic as landing_page_topic,
        coalesce(export_sourced.session_traffic_source, first_hits.traffic_source) as source,
        coalesce(export_sourced.session_traffic_medium, first_hits.traffic_medium) as medium,
        coalesce(export_sourced.session_traffic_campaign, first_hits.traffic_campaign) as campaign,
        coalesce(export_sourced.session_channel_group, first_hits.channel_group) as channel_group,
        case
            when export_sourced.session_id is not null then 'export'
            when first_hits.has_traffic_source then 'hit'
            else 'none'
        end as source_origin,
        first_user_sourced.first_user_source,
        first_user_sourced.first_user_medium,
        first_user_sourced.first_user_campaign,
        first_user_sourced.first_user_channel_group,
        first_hits.click_id_type,
        first_hits.device_category,
        first_hits.country_code,
        aggregated.events,
        aggregated.pageviews,
        aggregated.has_purchase,
        aggregated.purchase_revenue_rc as purchase_revenue,
        aggregated.transactions,
        aggregated.session_number = 1 as is_first_visit,
        aggregated.ingested_at
    from numbered_sessions as aggregated
    inner join first_hits
        on aggregated.session_id = first_hits.session_id
    left join export_sourced
        on aggregated.session_id = export_sourced.session_id
        and export_sourced.source_rank = 1
    left join first_user_sourced
        on aggregated.session_id = first_user_sourced.session_id
        and first_user_sourced.source_rank = 1

)

select * from final
