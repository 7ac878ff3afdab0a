{#- Derived go-to-market motion of each account (b2b, b2c, b2g, hybrid). Rule, first match:
      1. a row in seed motion_overrides (entity_type 'account')            → its motion;
      2. public sector: static label b2g/government, government domain, industry
         Government, or government contacts outnumbering the others      → b2g;
      3. static label b2c                                                 → b2c;
      4. buys both through deals and through orders                       → hybrid;
      5. otherwise vote on the known signals:
         B2B: corporate domain (account or most contacts), ≥ var('motion_b2b_min_contacts')
              contacts involved, median won deal ≥ var('motion_b2b_min_deal_rc'), median
              cycle ≥ var('motion_b2b_min_cycle_days');
         B2C: free-mail domain (account or most contacts), fewer contacts involved, smaller
              deals, shorter cycles.
         more B2B votes → b2b; more B2C votes → b2c; a tie → hybrid; no signal at all → b2b
         (an account record is a company).
    motion_reason says which step decided. -#}

{%- set min_contacts = var('motion_b2b_min_contacts', 2) %}
{%- set min_deal = var('motion_b2b_min_deal_rc', 1000) %}
{%- set min_cycle = var('motion_b2b_min_cycle_days', 14) %}

with

signals as (

    select * from {{ ref('int_accounts_motion_signals') }}

),

overrides as (

    select entity_id, lower(trim(motion)) as motion
    from {{ ref('motion_overrides') }}
    where lower(trim(entity_type)) = 'account'

),

votes as (

    select
        signals.*,
        case
            when domain_type = 'corporate' or corporate_contacts > free_mail_contacts then 1 else 0
        end
        + case
            when coalesce(avg_contacts_involved, cast(nullif(contacts, 0) as double)) >= {{ min_contacts }}
                then 1 else 0
        end
        + case when median_won_amount_rc >= {{ min_deal }} then 1 else 0 end
        + case when median_cycle_days >= {{ min_cycle }} then 1 else 0 end as b2b_votes,
        case
            when domain_type = 'free_mail' or free_mail_contacts > corporate_contacts then 1 else 0
        end
        + case
            when coalesce(avg_contacts_involved, cast(nullif(contacts, 0) as double)) < {{ min_contacts }}
                then 1 else 0
        end
        + case when median_won_amount_rc < {{ min_deal }} then 1 else 0 end
        + case when median_cycle_days < {{ min_cycle }} then 1 else 0 end as b2c_votes
    from signals

),

final as (

    select
        votes.account_id,
        case
            when overrides.motion is not null then overrides.motion
            when votes.customer_type_label in ('b2g', 'government', 'public sector')
                or votes.domain_type = 'government'
                or votes.industry = 'Government'
                or votes.government_contacts > votes.free_mail_contacts + votes.corporate_contacts
                then 'b2g'
            when votes.customer_type_label in ('b2c', 'consumer') then 'b2c'
            when votes.won_opportunities > 0 and votes.purchase_orders > 0 then 'hybrid'
            when votes.b2b_votes > votes.b2c_votes then 'b2b'
            when votes.b2c_votes > votes.b2b_votes then 'b2c'
            when votes.b2b_votes = 0 then 'b2b'
            else 'hybrid'
        end as motion,
        case
            when overrides.motion is not null then 'override'
            when votes.customer_type_label in ('b2g', 'government', 'public sector')
                or votes.domain_type = 'government'
                or votes.industry = 'Government'
                or votes.government_contacts > votes.free_mail_contacts + votes.corporate_contacts
                then 'public sector'
            when votes.customer_type_label in ('b2c', 'consumer') then 'static label'
            when votes.won_opportunities > 0 and votes.purchase_orders > 0 then 'deals and orders'
            when votes.b2b_votes + votes.b2c_votes = 0 then 'no signal: company record'
            else 'signals'
        end as motion_reason,
        votes.b2b_votes,
        votes.b2c_votes
    from votes
    left join overrides
        on votes.account_id = overrides.entity_id

)

select * from final
