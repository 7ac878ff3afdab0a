{#- One row per distinct (raw source, raw medium, raw campaign) seen on web events, orders and
    leads, with the canonical source, its category, the medium and the GA4-style default
    channel group. Rules live in seeds channel_source_aliases and channel_grouping_rules.
    Referrer-derived traffic arrives with raw medium '(referral)': it becomes 'organic' for
    search engines and 'referral' otherwise, as GA4 does. Missing values are '(not set)'. -#}

with

observed as (

    select traffic_source_raw, traffic_medium_raw, traffic_campaign_raw
    from {{ ref('int_events_sourced') }}
    union
    select
        coalesce(utm_source, '(not set)'),
        coalesce(utm_medium, '(not set)'),
        coalesce(utm_campaign, '(not set)')
    from {{ ref('stg_crm__orders') }}
    where utm_source is not null or utm_medium is not null
    union
    select
        coalesce(utm_source, '(not set)'),
        coalesce(utm_medium, '(not set)'),
        coalesce(utm_campaign, '(not set)')
    from {{ ref('stg_crm__leads') }}
    where utm_source is not null or utm_medium is not null

),

aliases as (

    select * from {{ ref('channel_source_aliases') }}

),

source_matches as (

    select
        sources.traffic_source_raw,
        aliases.source,
        aliases.source_category,
        row_number() over (
            partition by sources.traffic_source_raw order by aliases.rule_order
        ) as match_rank
    from (select distinct traffic_source_raw from observed) as sources
    inner join aliases
        on {{ segmart.regex_matches('sources.traffic_source_raw', 'aliases.source_pattern') }}

),

sourced as (

    select
        observed.traffic_source_raw,
        observed.traffic_medium_raw,
        observed.traffic_campaign_raw,
        coalesce(source_matches.source, observed.traffic_source_raw) as traffic_source,
        coalesce(source_matches.source_category, 'other') as source_category,
        case
            when observed.traffic_medium_raw = '(referral)'
                then case when source_matches.source_category = 'search' then 'organic' else 'referral' end
            else observed.traffic_medium_raw
        end as traffic_medium,
        observed.traffic_campaign_raw as traffic_campaign
    from observed
    left join source_matches
        on observed.traffic_source_raw = source_matches.traffic_source_raw
        and source_matches.match_rank = 1

),

rules as (

    select * from {{ ref('channel_grouping_rules') }}

),

rule_matches as (

    select
        sourced.traffic_source_raw,
        sourced.traffic_medium_raw,
        sourced.traffic_campaign_raw,
        rules.channel_group,
        row_number() over (
            partition by sourced.traffic_source_raw, sourced.traffic_medium_raw, sourced.traffic_campaign_raw
            order by rules.rule_order
        ) as match_rank
    from sourced
    inner join rules
        on (rules.source_category is null or rules.source_category = sourced.source_category)
        and (rules.source_pattern is null
            or {{ segmart.regex_matches('sourced.traffic_source', 'rules.source_pattern') }})
        and (rules.medium_pattern is null
            or {{ segmart.regex_matches('sourced.traffic_medium', 'rules.medium_pattern') }})
        and (rules.campaign_pattern is null
            or {{ segmart.regex_matches('sourced.traffic_campaign', 'rules.campaign_pattern') }})

),

final as (

    select
        sourced.traffic_source_raw,
        sourced.traffic_medium_raw,
        sourced.traffic_campaign_raw,
        sourced.traffic_source,
        sourced.source_category,
        sourced.traffic_medium,
        sourced.traffic_campaign,
        coalesce(rule_matches.channel_group, 'Unassigned') as channel_group
    from sourced
    left join rule_matches
        on sourced.traffic_source_raw = rule_matches.traffic_source_raw
        and sourced.traffic_medium_raw = rule_matches.traffic_medium_raw
        and sourced.traffic_campaign_raw = rule_matches.traffic_campaign_raw
        and rule_matches.match_rank = 1

)

select * from final
