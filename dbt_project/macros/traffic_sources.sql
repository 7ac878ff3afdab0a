{#- The classification of raw traffic sources (int_traffic_sources_classified) as CTEs of a
    model's WITH clause. `observed`: a CTE or relation with the columns traffic_source_raw,
    traffic_medium_raw and traffic_campaign_raw (distinct rows); the last CTE, `name`, holds
    one classified row per observed row. A row's classification depends only on its three
    values and the seeds, so the daily-partitioned int_events_channeled and
    int_order_lines_converted classify the traffic of their window with the same rules as the
    full table.
    Usage: with observed as (...), {{ segmart.traffic_classification_ctes('observed', 'classified') }}
           select * from classified -#}
{% macro traffic_classification_ctes(observed, name) %}
traffic_aliases as (

    select * from {{ ref('channel_source_aliases') }}

),

traffic_source_matches as (

    select
        sources.traffic_source_raw,
        traffic_aliases.source,
        traffic_aliases.source_category,
        row_number() over (
            partition by sources.traffic_source_raw order by traffic_aliases.rule_order
        ) as match_rank
    from (select distinct traffic_source_raw from {{ observed }}) as sources
    inner join traffic_aliases
        on {{ segmart.regex_matches('sources.traffic_source_raw', 'traffic_aliases.source_pattern') }}

),

traffic_sourced as (

    select
        {{ observed }}.traffic_source_raw,
        {{ observed }}.traffic_medium_raw,
        {{ observed }}.traffic_campaign_raw,
        coalesce(traffic_source_matches.source, {{ observed }}.traffic_source_raw) as traffic_source,
        coalesce(traffic_source_matches.source_category, 'other') as source_category,
        case
            when {{ observed }}.traffic_medium_raw = '(referral)'
                then case when traffic_source_matches.source_category = 'search' then 'organic' else 'referral' end
            else {{ observed }}.traffic_medium_raw
        end as traffic_medium,
        {{ observed }}.traffic_campaign_raw as traffic_campaign
    from {{ observed }}
    left join traffic_source_matches
        on {{ observed }}.traffic_source_raw = traffic_source_matches.traffic_source_raw
        and traffic_source_matches.match_rank = 1

),

traffic_rules as (

    select * from {{ ref('channel_grouping_rules') }}

),

traffic_rule_matches as (

    select
        traffic_sourced.traffic_source_raw,
        traffic_sourced.traffic_medium_raw,
        traffic_sourced.traffic_campaign_raw,
        traffic_rules.channel_group,
        row_number() over (
            partition by traffic_sourced.traffic_source_raw, traffic_sourced.traffic_medium_raw, traffic_sourced.traffic_campaign_raw
            order by traffic_rules.rule_order
        ) as match_rank
    from traffic_sourced
    inner join traffic_rules
        on (traffic_rules.source_category is null or traffic_rules.source_category = traffic_sourced.source_category)
        and (traffic_rules.source_pattern is null
            or {{ segmart.regex_matches('traffic_sourced.traffic_source', 'traffic_rules.source_pattern') }})
        and (traffic_rules.medium_pattern is null
            or {{ segmart.regex_matches('traffic_sourced.traffic_medium', 'traffic_rules.medium_pattern') }})
        and (traffic_rules.campaign_pattern is null
            or {{ segmart.regex_matches('traffic_sourced.traffic_campaign', 'traffic_rules.campaign_pattern') }})

),

{{ name }} as (

    select
        traffic_sourced.traffic_source_raw,
        traffic_sourced.traffic_medium_raw,
        traffic_sourced.traffic_campaign_raw,
        traffic_sourced.traffic_source,
        traffic_sourced.source_category,
        traffic_sourced.traffic_medium,
        traffic_sourced.traffic_campaign,
        coalesce(traffic_rule_matches.channel_group, 'Unassigned') as channel_group
    from traffic_sourced
    left join traffic_rule_matches
        on traffic_sourced.traffic_source_raw = traffic_rule_matches.traffic_source_raw
        and traffic_sourced.traffic_medium_raw = traffic_rule_matches.traffic_medium_raw
        and traffic_sourced.traffic_campaign_raw = traffic_rule_matches.traffic_campaign_raw
        and traffic_rule_matches.match_rank = 1

)
{% endmacro %}
