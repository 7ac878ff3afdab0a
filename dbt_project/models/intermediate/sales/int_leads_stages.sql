{#- Leads with their funnel stages (lead → MQL → SQL → opportunity → won), the dates they
    reached each, the person and account they resolve to and the channel group of the lead
    (UTM tags through the channel rules; without UTM the CRM lead_source when it names a
    default channel group, else 'Unassigned'). The lead's deal is the one it names, else a
    deal naming the lead (int_lead_opportunity_links, is_lead_primary), so the funnel is the
    same whichever side of the export carries the link. -#}

with

leads as (

    select * from {{ ref('stg_crm__leads') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_enriched') }}

),

lead_links as (

    select lead_id, opportunity_id
    from {{ ref('int_lead_opportunity_links') }}
    where is_lead_primary

),

identity as (

    select * from {{ ref('int_identity') }}

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

account_domains as (

    select * from {{ ref('int_account_domains') }}

),

classified as (

    select * from {{ ref('int_traffic_sources_classified') }}

),

channel_groups as (

    select distinct channel_group from {{ ref('channel_grouping_rules') }}

),

final as (

    select
        leads.lead_id,
        coalesce(by_contact.person_key, by_email.person_key) as person_key,
        leads.contact_id,
        coalesce(
            leads.account_id, opportunities.account_id, people.account_id, account_domains.account_id
        ) as account_id,
        leads.email_domain,
        leads.company_name,
        leads.industry_text,
        leads.employees,
        leads.country_code,
        leads.lead_type,
        leads.lead_source,
        leads.lead_status,
        leads.utm_source,
        leads.utm_medium,
        leads.utm_campaign,
        coalesce(classified.channel_group, channel_groups.channel_group, 'Unassigned') as channel_group,
        leads.created_at,
        leads.mql_at,
        leads.sql_at,
        coalesce(opportunities.created_at, leads.converted_at) as opportunity_created_at,
        case when opportunities.is_won then opportunities.closed_at end as won_at,
        lead_links.opportunity_id,
        leads.mql_at is not null or leads.sql_at is not null
            or lead_links.opportunity_id is not null as is_mql,
        leads.sql_at is not null or lead_links.opportunity_id is not null as is_sql,
        lead_links.opportunity_id is not null as is_converted,
        coalesce(opportunities.is_won, false) as is_won,
        coalesce(opportunities.is_closed, false) as is_opportunity_closed,
        case
            when opportunities.is_won then 'won'
            when lead_links.opportunity_id is not null then 'opportunity'
            when leads.sql_at is not null then 'sql'
            when leads.mql_at is not null then 'mql'
            else 'lead'
        end as funnel_stage,
        {{ segmart.days_between('leads.created_at', 'opportunities.closed_at') }} as days_to_close
    from leads
    left join lead_links
        on leads.lead_id = lead_links.lead_id
    left join opportunities
        on lead_links.opportunity_id = opportunities.opportunity_id
    left join identity as by_contact
        on by_contact.identifier_type = 'contact_id'
        and leads.contact_id = by_contact.identifier_value
    left join identity as by_email
        on by_email.identifier_type = 'email_hash'
        and leads.email_hash = by_email.identifier_value
    left join people
        on coalesce(by_contact.person_key, by_email.person_key) = people.person_key
    left join account_domains
        on leads.email_domain = account_domains.domain
    left join classified
        on coalesce(leads.utm_source, '(not set)') = classified.traffic_source_raw
        and coalesce(leads.utm_medium, '(not set)') = classified.traffic_medium_raw
        and coalesce(leads.utm_campaign, '(not set)') = classified.traffic_campaign_raw
    left join channel_groups
        on lower(leads.lead_source) = lower(channel_groups.channel_group)

)

select * from final
