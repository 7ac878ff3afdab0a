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
{#- the events this run sessionises: every event (full build), else every event of a visitor
    with an event loaded since the last build -#}
{%- set events_of_run -%}
    {%- if is_incremental() %}
    where visitor_key in (
        select visitor_key from {{ ref('int_events_channeled') }}
        where {{ segmart.loaded_since_last_build() }}
    )
    {%- else %}
    where true
    {%- endif %}
{%- endset %}

with

{#- Only events without the export's own session id are sessionised here (timeout, campaign
    change): two passes over each visitor's events in time order, on a narrow projection. An
    export session is its id and needs no pass. #}
visit_hits as (

    select
        event_id,
        event_at,
        visitor_key,
        case
            when has_traffic_source
                then traffic_source || '|' || traffic_medium || '|' || traffic_campaign
        end as campaign_key
    from {{ ref('int_events_channeled') }}
    {{ events_of_run }}
        and source_session_id is null

),

with_previous as (

    select
        *,
        lag(event_at) over (
            partition by visitor_key order by event_at, event_id
        ) as previous_event_at,
        {{ segmart.last_value_ignore_nulls('campaign_key') }} over (
            partition by visitor_key order by event_at, event_id
            rows between unbounded preceding and 1 preceding
        ) as previous_campaign_key
    from visit_hits

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

visits as (

    select
        event_id,
        {{ segmart.surrogate_key("visitor_key || '|' || cast(visit_number as " ~ dbt.type_string() ~ ")") }} as session_id
    from (
        select
            event_id,
            visitor_key,
            sum(is_session_start) over (
                partition by visitor_key order by event_at, event_id
                rows between unbounded preceding and current row
            ) as visit_number
        from flagged
    ) as numbered

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

keyed as (

    select
        events.*,
        case
            when events.source_session_id is null then visits.session_id
            else {{ segmart.surrogate_key("events.visitor_key || '|ga:' || events.source_session_id") }}
        end as session_id,
        events.event_name = 'purchase' or events.transaction_id is not null as is_purchase
    from {{ ref('int_events_channeled') }} as events
    left join visits
        on events.event_id = visits.event_id
    {{ events_of_run }}

),

{#- One pass over the events per session: counts and sums, the first event (the smallest
    (event_at, event_id): min of a struct compares field by field), the first one carrying
    the export's session source and the first one carrying the user's first-acquisition
    source, with their values. #}
aggregated as (

    select
        keyed.session_id,
        keyed.visitor_key,
        max(keyed.user_pseudo_id) as user_pseudo_id,
        max(keyed.user_id) as user_id,
        min(keyed.event_at) as started_at,
        max(keyed.event_at) as ended_at,
        count(*) as events,
        cast(sum(case when keyed.event_name in ('page_view', 'pageview', 'screen_view') then 1 else 0 end) as bigint) as pageviews,
        max(case when keyed.is_purchase then 1 else 0 end) = 1 as has_purchase,
        sum(coalesce(case when keyed.is_purchase
            then keyed.revenue * coalesce(fx.rate_to_reporting, case
                when keyed.currency_code is null
                    or keyed.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            end)
        end, 0)) as purchase_revenue_rc,
        count(distinct keyed.transaction_id) as transactions,
        max(keyed.ingested_at) as ingested_at,
        min({{ segmart.named_struct({
            'event_at': 'keyed.event_at',
            'event_id': 'keyed.event_id',
        }) }}) as first_event,
        min(case when keyed.has_session_source then {{ segmart.named_struct({
            'event_at': 'keyed.event_at',
            'event_id': 'keyed.event_id',
            'traffic_source': 'keyed.session_traffic_source',
            'traffic_medium': 'keyed.session_traffic_medium',
            'traffic_campaign': 'keyed.session_traffic_campaign',
            'channel_group': 'keyed.session_channel_group',
        }) }} end) as export_source,
        min(case when keyed.has_first_user_source then {{ segmart.named_struct({
            'event_at': 'keyed.event_at',
            'event_id': 'keyed.event_id',
            'source': 'keyed.first_user_source',
            'medium': 'keyed.first_user_medium',
            'campaign': 'keyed.first_user_campaign',
            'channel_group': 'keyed.first_user_channel_group',
        }) }} end) as first_user
    from keyed
    left join fx
        on cast(keyed.event_at as date) = fx.date_day
        and keyed.currency_code = fx.currency_code
    group by keyed.session_id, keyed.visitor_key

),

numbered_sessions as (

    select
        *,
        row_number() over (
            partition by visitor_key order by started_at, session_id
        ) as session_number
    from aggregated

),

{#- the session's first event, for its landing page, source and device #}
first_hits as (

    select
        event_id,
        page_path,
        page_topic,
        has_traffic_source,
        traffic_source,
        traffic_medium,
        traffic_campaign,
        channel_group,
        click_id_type,
        device_category,
        country_code
    from {{ ref('int_events_channeled') }}
    {{ events_of_run }}

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
        coalesce(aggregated.export_source.traffic_source, first_hits.traffic_source) as source,
        coalesce(aggregated.export_source.traffic_medium, first_hits.traffic_medium) as medium,
        coalesce(aggregated.export_source.traffic_campaign, first_hits.traffic_campaign) as campaign,
        coalesce(aggregated.export_source.channel_group, first_hits.channel_group) as channel_group,
        case
            when aggregated.export_source is not null then 'export'
            when first_hits.has_traffic_source then 'hit'
            else 'none'
        end as source_origin,
        aggregated.first_user.source as first_user_source,
        aggregated.first_user.medium as first_user_medium,
        aggregated.first_user.campaign as first_user_campaign,
        aggregated.first_user.channel_group as first_user_channel_group,
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
        on aggregated.first_event.event_id = first_hits.event_id

)

select * from final
