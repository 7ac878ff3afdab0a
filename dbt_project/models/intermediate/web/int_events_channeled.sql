{{ config(
    materialized=segmart.incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='fail',
) }}

{#- Web events with their traffic source, medium, campaign and default channel group, the
    visitor key used for sessionisation and the page topic.
    The export's own session source (session_*) and the user's first-acquisition source
    (first_user_*) are classified by the same rules; null where the export has none.
    Incremental on load time (macros/incremental/load_time.sql): every column is a function
    of the event and the seeds, so a run builds the events loaded since the last build and
    replaces them by event_id. The person is not stored here (a visitor who logs in later changes the person
    of all their earlier events): readers resolve it with the current int_identity. -#}

{#- the events this run builds: those loaded since the last build (all on a full build) -#}
{%- set loaded = segmart.loaded_since_last_build() if is_incremental() else 'true' %}

with

events as (

    select * from {{ ref('int_events_sourced') }}
    where {{ loaded }}

),

{#- The lookups below read int_events_sourced itself, narrowly: a second reader of the CTE
    events would make an engine materialise every column of it. #}
observed as (

    select traffic_source_raw, traffic_medium_raw, traffic_campaign_raw
    from {{ ref('int_events_sourced') }}
    where {{ loaded }}
    union
    select session_source_raw, session_medium_raw, session_campaign_raw
    from {{ ref('int_events_sourced') }}
    where {{ loaded }}
        and has_session_source
    union
    select first_user_source_raw, first_user_medium_raw, first_user_campaign_raw
    from {{ ref('int_events_sourced') }}
    where {{ loaded }}
        and has_first_user_source

),

{{ segmart.traffic_classification_ctes('observed', 'classified') }},

topic_rules as (

    select * from {{ ref('page_topic_rules') }}

),

topic_matches as (

    select
        paths.page_path,
        topic_rules.page_topic,
        topic_rules.need,
        row_number() over (partition by paths.page_path order by topic_rules.rule_order) as match_rank
    from (
        select distinct page_path from {{ ref('int_events_sourced') }} where {{ loaded }}
    ) as paths
    inner join topic_rules
        on {{ segmart.regex_matches('paths.page_path', 'topic_rules.path_pattern') }}

),

final as (

    select
        events.event_id,
        events.event_at,
        events.event_date,
        events.event_name,
        coalesce(
            'pseudo:' || events.user_pseudo_id,
            'user:' || events.user_id,
            'event:' || events.event_id
        ) as visitor_key,
        events.user_pseudo_id,
        events.user_id,
        events.source_session_id,
        events.page_location,
        events.page_host,
        events.page_path,
        topic_matches.page_topic,
        topic_matches.need as page_need,
        events.referrer_host,
        events.has_traffic_source,
        events.click_id_type,
        classified.traffic_source,
        classified.traffic_medium,
        classified.traffic_campaign,
        classified.source_category,
        classified.channel_group,
        events.has_session_source,
        session_classified.traffic_source as session_traffic_source,
        session_classified.traffic_medium as session_traffic_medium,
        session_classified.traffic_campaign as session_traffic_campaign,
        session_classified.channel_group as session_channel_group,
        events.has_first_user_source,
        first_user_classified.traffic_source as first_user_source,
        first_user_classified.traffic_medium as first_user_medium,
        first_user_classified.traffic_campaign as first_user_campaign,
        first_user_classified.channel_group as first_user_channel_group,
        events.utm_content,
        events.utm_term,
        events.device_category,
        events.country_code,
        events.transaction_id,
        events.revenue,
        events.currency_code,
        events.ingested_at
    from events
    left join classified
        on events.traffic_source_raw = classified.traffic_source_raw
        and events.traffic_medium_raw = classified.traffic_medium_raw
        and events.traffic_campaign_raw = classified.traffic_campaign_raw
    left join classified as session_classified
        on events.has_session_source
        and events.session_source_raw = session_classified.traffic_source_raw
        and events.session_medium_raw = session_classified.traffic_medium_raw
        and events.session_campaign_raw = session_classified.traffic_campaign_raw
    left join classified as first_user_classified
        on events.has_first_user_source
        and events.first_user_source_raw = first_user_classified.traffic_source_raw
        and events.first_user_medium_raw = first_user_classified.traffic_medium_raw
        and events.first_user_campaign_raw = first_user_classified.traffic_campaign_raw
    left join topic_matches
        on events.page_path = topic_matches.page_path
        and topic_matches.match_rank = 1

)

select * from final
