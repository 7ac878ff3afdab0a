{#- One row per lead with its funnel stage dates (created → MQL → SQL → opportunity → won),
    stage flags, lead type (demo request, download, form fill, ...), the channel of its own
    UTM tags / CRM lead source ('Unassigned' when neither names one), the normalised
    campaign key and the derived motion: its account's, else inferred from the lead's own
    fields (government e-mail domain → b2g; corporate e-mail domain or a company name →
    b2b; free-mail e-mail → b2c), else 'unknown' — never b2c by default. -#}

with

leads as (

    select * from {{ ref('int_leads_stages') }}

),

accounts_motion as (

    select account_id, motion from {{ ref('int_accounts_motion') }}

),

domains as (

    select domain, domain_type from {{ ref('int_domains_classified') }}

),

campaign_ids as (

    select
        lower(campaign_id) as campaign_id,
        min(campaign) as campaign
    from {{ ref('dim_campaigns') }}
    group by lower(campaign_id)

),

final as (

    select
        leads.lead_id,
        leads.person_key,
        leads.contact_id,
        leads.account_id,
        leads.opportunity_id,
        leads.lead_type,
        leads.lead_source,
        leads.lead_status,
        leads.utm_source,
        leads.utm_medium,
        coalesce(campaign_ids.campaign, leads.utm_campaign) as campaign,
        leads.channel_group as channel,
        leads.created_at,
        {{ segmart.month_start('leads.created_at') }} as created_month,
        leads.mql_at,
        leads.sql_at,
        leads.opportunity_created_at,
        leads.won_at,
        leads.is_mql,
        leads.is_sql,
        leads.is_converted,
        leads.is_won,
        leads.is_opportunity_closed,
        leads.funnel_stage,
        leads.days_to_close,
        case
            when leads.account_id is not null then coalesce(accounts_motion.motion, 'unknown')
            when domains.domain_type = 'government' then 'b2g'
            when domains.domain_type = 'corporate' or leads.company_name is not null then 'b2b'
            when domains.domain_type = 'free_mail' then 'b2c'
            else 'unknown'
        end as motion
    from leads
    left join accounts_motion
        on leads.account_id = accounts_motion.account_id
    left join domains
        on leads.email_domain = domains.domain
    left join campaign_ids
        on leads.utm_campaign = campaign_ids.campaign_id

)

select * from final
