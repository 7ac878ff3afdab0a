{#- Opportunities (deals) with amounts in the reporting currency (FX of the close date, else
    the create date), normalised stage and deal type, ACV / TCV and cycle length.
    * is_won / is_closed: the CRM flags when exported, else derived from the stage text
      (won, closed won, closedwon, ... / lost, closed lost, ...).
    * contract_years: contract_months / 12, else the contract dates, else 1 year.
      TCV = amount_rc; ACV = TCV / contract_years.
    * deal_type: new, renewal, upsell or service from the exported text; a deal with
      renewal_of_opportunity_id and no type is a renewal; otherwise new.
    * lead_id: the lead the deal came from, whichever side names the other
      (int_lead_opportunity_links); first_contact_at: that lead's created_at.
    * created_at: the deal's own create date; a deal without one (closed-deals exports
      carry only the won date) takes its lead's first contact, flagged
      is_created_at_from_lead, so its sales cycle and create month still count.
    * cycle_days: closed_at − created_at in days, for closed deals. -#}

with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

lead_links as (

    select links.opportunity_id, links.lead_id, leads.created_at as lead_created_at
    from {{ ref('int_lead_opportunity_links') }} as links
    left join {{ ref('stg_crm__leads') }} as leads
        on links.lead_id = leads.lead_id
    where links.is_opportunity_primary

),

with_lead as (

    select
        opportunities.opportunity_id,
        opportunities.account_id,
        opportunities.contact_id,
        opportunities.opportunity_name,
        opportunities.stage_text,
        opportunities.is_closed_reported,
        opportunities.is_won_reported,
        opportunities.amount,
        opportunities.currency_code,
        opportunities.deal_type_text,
        opportunities.product,
        opportunities.contract_start_date,
        opportunities.contract_end_date,
        opportunities.contract_months,
        opportunities.renewal_of_opportunity_id,
        opportunities.lead_source,
        opportunities.contacts_involved,
        opportunities.owner_name,
        coalesce(opportunities.created_at, lead_links.lead_created_at) as created_at,
        opportunities.created_at is null and lead_links.lead_created_at is not null
            as is_created_at_from_lead,
        coalesce(opportunities.lead_id, lead_links.lead_id) as lead_id,
        lead_links.lead_created_at as first_contact_at,
        opportunities.closed_at
    from opportunities
    left join lead_links
        on opportunities.opportunity_id = lead_links.opportunity_id

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

derived as (

    select
        opportunities.*,
        coalesce(
            opportunities.is_won_reported,
            opportunities.stage_text in ('won', 'closed won', 'closedwon', 'close won', 'win')
        ) as is_won_derived,
        coalesce(
            opportunities.is_closed_reported,
            opportunities.stage_text in (
                'won', 'closed won', 'closedwon', 'close won', 'win',
                'lost', 'closed lost', 'closedlost', 'close lost', 'loss', 'closed'
            )
        ) as is_closed_derived,
        coalesce(
            cast(opportunities.contract_months as double),
            case when opportunities.contract_end_date > opportunities.contract_start_date
                then {{ segmart.days_between('opportunities.contract_start_date', 'opportunities.contract_end_date') }} / 30.4375
            end,
            12.0
        ) / 12.0 as contract_years,
        case
            when opportunities.currency_code is null
                or opportunities.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            else fx.rate_to_reporting
        end as fx_rate
    from with_lead as opportunities
    left join fx
        on cast(coalesce(opportunities.closed_at, opportunities.created_at) as date) = fx.date_day
        and opportunities.currency_code = fx.currency_code

),

final as (

    select
        opportunity_id,
        account_id,
        contact_id,
        opportunity_name,
        stage_text as stage,
        case
            when is_won_derived then 'won'
            when is_closed_derived then 'lost'
            else 'open'
        end as stage_category,
        is_closed_derived or is_won_derived as is_closed,
        is_won_derived as is_won,
        case
            when deal_type_text in ('new', 'new business', 'newbusiness', 'new customer', 'new logo') then 'new'
            when deal_type_text like '%renew%' then 'renewal'
            when deal_type_text like '%upsell%' or deal_type_text like '%up-sell%'
                or deal_type_text like '%expansion%' or deal_type_text like '%cross%'
                or deal_type_text like '%add-on%' or deal_type_text like '%existing%' then 'upsell'
            when deal_type_text like '%service%' or deal_type_text like '%consult%'
                or deal_type_text like '%implementation%' or deal_type_text like '%training%' then 'service'
            when renewal_of_opportunity_id is not null then 'renewal'
            else 'new'
        end as deal_type,
        product,
        currency_code,
        amount,
        amount * fx_rate as amount_rc,
        amount * fx_rate as tcv_rc,
        amount * fx_rate / contract_years as acv_rc,
        contract_years,
        contract_start_date,
        contract_end_date,
        renewal_of_opportunity_id,
        lead_source,
        contacts_involved,
        owner_name,
        lead_id,
        first_contact_at,
        created_at,
        is_created_at_from_lead,
        closed_at,
        case when is_closed_derived or is_won_derived
            then {{ segmart.days_between('created_at', 'closed_at') }}
        end as cycle_days
    from derived

)

select * from final
