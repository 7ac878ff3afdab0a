{#- Every link between a lead and a deal, whichever side names the other: a lead naming the
    deal it converted into (leads.converted_opportunity_id) or a deal naming the lead it
    came from (opportunities.lead_id, as closed-deals exports carry it). One row per
    (lead, deal) pair, with which side named it and two choices:
    * is_lead_primary: the one deal that counts for the lead in the funnel — the deal the
      lead names, else the earliest created deal naming the lead (then the smallest id);
    * is_opportunity_primary: the one lead a deal came from — the lead the deal names, else
      the earliest created lead naming the deal (then the smallest id).
    A link is kept even when the other side is not in the data (a lead naming a deal of a
    CRM whose deals were not exported still counts as converted). -#}

with

leads as (

    select lead_id, converted_opportunity_id, created_at from {{ ref('stg_crm__leads') }}

),

opportunities as (

    select opportunity_id, lead_id, created_at from {{ ref('stg_crm__opportunities') }}

),

named as (

    select lead_id, converted_opportunity_id as opportunity_id, 1 as by_lead, 0 as by_deal
    from leads
    where converted_opportunity_id is not null
    union all
    select lead_id, opportunity_id, 0 as by_lead, 1 as by_deal
    from opportunities
    where lead_id is not null

),

pairs as (

    select
        named.lead_id,
        named.opportunity_id,
        max(named.by_lead) = 1 as is_named_by_lead,
        max(named.by_deal) = 1 as is_named_by_deal
    from named
    group by named.lead_id, named.opportunity_id

),

ranked as (

    select
        pairs.lead_id,
        pairs.opportunity_id,
        pairs.is_named_by_lead,
        pairs.is_named_by_deal,
        row_number() over (
            partition by pairs.lead_id
            order by
                case when pairs.is_named_by_lead then 0 else 1 end,
                case when opportunities.created_at is null then 1 else 0 end,
                opportunities.created_at,
                pairs.opportunity_id
        ) as lead_rank,
        row_number() over (
            partition by pairs.opportunity_id
            order by
                case when pairs.is_named_by_deal then 0 else 1 end,
                case when leads.created_at is null then 1 else 0 end,
                leads.created_at,
                pairs.lead_id
        ) as opportunity_rank
    from pairs
    left join opportunities
        on pairs.opportunity_id = opportunities.opportunity_id
    left join leads
        on pairs.lead_id = leads.lead_id

),

final as (

    select
        lead_id || '|' || opportunity_id as link_key,
        lead_id,
        opportunity_id,
        case
            when is_named_by_lead and is_named_by_deal then 'both'
            when is_named_by_lead then 'lead'
            else 'deal'
        end as named_by,
        lead_rank = 1 as is_lead_primary,
        opportunity_rank = 1 as is_opportunity_primary
    from ranked

)

select * from final
