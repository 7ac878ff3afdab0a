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

{{ segmart.traffic_classification_ctes('observed', 'final') }}

select * from final
