{#- One row per opportunity (deal), amounts in the reporting currency: TCV (the deal amount),
    ACV (TCV / contract years), deal type (new / renewal / upsell / service), sales-cycle
    days of closed deals, whether it is the account's first won deal (a new B2B customer),
    the channel of the lead it came from and the account's derived motion. Gross profit of a
    deal is TCV x var('default_gross_margin'): CRM deals carry no cost.
    The deal's lead is the one it names, else a lead naming it (int_lead_opportunity_links);
    its channel is the first channel other than Unassigned among the leads linked to it,
    either way. A deal without an account takes the motion of its lead (fct_leads: the
    lead's account, else its own e-mail domain and company), else 'unknown' - never b2c
    by default. -#}

with

opportunities as (

    select * from {{ ref('int_opportunities_enriched') }}

),

identity as (

    select identifier_value as contact_id, person_key
    from {{ ref('int_identity') }}
    where identifier_type = 'contact_id'

),

source_leads as (

    select
        links.opportunity_id,
        min(case when leads.channel_group <> 'Unassigned' then leads.channel_group end)
            as lead_channel
    from {{ ref('int_lead_opportunity_links') }} as links
    inner join {{ ref('int_leads_stages') }} as leads
        on links.lead_id = leads.lead_id
    group by links.opportunity_id

),

lead_motion as (

    select lead_id, motion from {{ ref('fct_leads') }}

),

accounts_motion as (

    select account_id, motion from {{ ref('int_accounts_motion') }}

),

ranked as (

    select
        opportunities.*,
        case when opportunities.is_won and opportunities.account_id is not null then
            row_number() over (
                partition by opportunities.account_id, opportunities.is_won
                order by
                    case when opportunities.closed_at is null then 1 else 0 end,
                    opportunities.closed_at,
                    opportunities.opportunity_id
            )
        end as account_won_deal_number
    from opportunities

),

final as (

    select
        ranked.opportunity_id,
        ranked.account_id,
        ranked.contact_id,
        identity.person_key,
        ranked.lead_id,
        ranked.opportunity_name,
        ranked.stage,
        ranked.stage_category,
        ranked.is_closed,
        ranked.is_won,
        ranked.deal_type,
        ranked.product,
        ranked.currency_code,
        ranked.amount,
        ranked.tcv_rc as tcv,
        ranked.acv_rc as acv,
        ranked.tcv_rc * {{ var('default_gross_margin') }} as gross_profit,
        ranked.contract_years,
        ranked.contract_start_date,
        ranked.contract_end_date,
        ranked.renewal_of_opportunity_id,
        ranked.lead_source,
        source_leads.lead_channel as channel,
        ranked.contacts_involved,
        ranked.owner_name,
        ranked.created_at,
        ranked.is_created_at_from_lead,
        ranked.first_contact_at,
        ranked.closed_at,
        {{ segmart.month_start('ranked.created_at') }} as created_month,
        {{ segmart.month_start('ranked.closed_at') }} as closed_month,
        ranked.cycle_days as sales_cycle_days,
        case when ranked.is_won then {{ segmart.days_between(
            'coalesce(ranked.first_contact_at, ranked.created_at)', 'ranked.closed_at'
        ) }} end as days_from_first_contact_to_won,
        coalesce(ranked.account_won_deal_number = 1, false) as is_first_won_deal,
        case
            when ranked.account_id is not null then coalesce(accounts_motion.motion, 'unknown')
            else coalesce(lead_motion.motion, 'unknown')
        end as motion
    from ranked
    left join identity
        on ranked.contact_id = identity.contact_id
    left join source_leads
        on ranked.opportunity_id = source_leads.opportunity_id
    left join accounts_motion
        on ranked.account_id = accounts_motion.account_id
    left join lead_motion
        on ranked.lead_id = lead_motion.lead_id

)

select * from final
