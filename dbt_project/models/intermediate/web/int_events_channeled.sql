{#- Web events with their traffic source, medium, campaign and default channel group, the
    visitor key used for sessionisation, the resolved person and the page topic. -#}

with

events as (

    select * from {{ ref('int_events_sourced') }}

),

classified as (

    select * from {{ ref('int_traffic_sources_classified') }}

),

identity as (

    select * from {{ ref('int_identity') }}

),

topic_rules as (

    select * from {{ ref('page_topic_rules') }}

),

topic_matches as (

    select
        paths.page_path,
        topic_rules.page_topic,
        topic_rules.need,
        row_number() over (partition by paths.page_path order by topic_rules.rule_order) as match_rank
    from (select distinct page_path from events) as paths
    inner join topic_rules
        on {{ segmart.regex_matches('paths.page_path', 'topic_rules.path_pattern') }}

),

final as (

    select
        events.event_id,
        events.event_at,
        events.event_name,
        coalesce(
            'pseudo:' || events.user_pseudo_id,
            'user:' || events.user_id,
            'event:' || events.event_id
        ) as visitor_key,
        events.user_pseudo_id,
        events.user_id,
        coalesce(by_pseudo_id.person_key, by_user_id.person_key) as person_key,
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
        events.utm_content,
        events.utm_term,
        events.device_category,
        events.country_code,
        events.transaction_id,
        events.revenue,
        events.currency_code
    from events
    left join classified
        on events.traffic_source_raw = classified.traffic_source_raw
        and events.traffic_medium_raw = classified.traffic_medium_raw
        and events.traffic_campaign_raw = classified.traffic_campaign_raw
    left join identity as by_pseudo_id
        on by_pseudo_id.identifier_type = 'user_pseudo_id'
        and events.user_pseudo_id = by_pseudo_id.identifier_value
    left join identity as by_user_id
        on by_user_id.identifier_type = 'user_id'
        and events.user_id = by_user_id.identifier_value
    left join topic_matches
        on events.page_path = topic_matches.page_path
        and topic_matches.match_rank = 1

)

select * from final
