{#- One row per CRM contact, prospects included: the account and its firmographic segment,
    the person's funnel stage, e-mail domain type, dominant need and lead channel, so
    contacts who are not customers yet are segmented too. -#}

with

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

identity as (

    select * from {{ ref('int_identity') }}
    where identifier_type = 'contact_id'

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

needs as (

    select * from {{ ref('int_needs_dominant') }}
    where entity_type = 'person'

),

purchases as (

    select customer_key, count(*) as purchase_orders
    from {{ ref('int_orders') }}
    where is_purchase and customer_key is not null
    group by customer_key

),

lead_ranked as (

    select
        person_key,
        funnel_stage,
        channel_group,
        row_number() over (partition by person_key order by created_at, lead_id) as first_rank,
        row_number() over (
            partition by person_key
            order by case funnel_stage
                when 'won' then 5 when 'opportunity' then 4 when 'sql' then 3 when 'mql' then 2 else 1
            end desc, created_at desc, lead_id
        ) as best_rank
    from {{ ref('int_leads_stages') }}
    where person_key is not null

),

final as (

    select
        contacts.contact_id,
        identity.person_key,
        people.account_id,
        people.account_match_method,
        coalesce(people.email_domain_type, 'unknown') as email_domain_type,
        accounts.firmographic_segment,
        accounts.motion as account_motion,
        accounts.value_tier as account_value_tier,
        case
            when purchases.purchase_orders > 0 then 'customer'
            when best_lead.funnel_stage = 'won' then 'customer'
            when best_lead.funnel_stage is not null then best_lead.funnel_stage
            when accounts.lifecycle_stage = 'customer' then 'customer account contact'
            else 'contact'
        end as lifecycle_stage,
        coalesce(purchases.purchase_orders, 0) > 0 or coalesce(best_lead.funnel_stage = 'won', false)
            as is_customer,
        coalesce(first_lead.channel_group, 'Unassigned') as first_lead_channel,
        coalesce(needs.dominant_need, 'unknown') as needs_segment,
        contacts.job_title,
        contacts.country_code,
        contacts.lifecycle_stage as crm_lifecycle_stage,
        contacts.created_at
    from contacts
    left join identity
        on contacts.contact_id = identity.identifier_value
    left join people
        on identity.person_key = people.person_key
    left join accounts
        on people.account_id = accounts.account_id
    left join needs
        on identity.person_key = needs.entity_id
    left join purchases
        on identity.person_key = purchases.customer_key
    left join lead_ranked as first_lead
        on identity.person_key = first_lead.person_key
        and first_lead.first_rank = 1
    left join lead_ranked as best_lead
        on identity.person_key = best_lead.person_key
        and best_lead.best_rank = 1

)

select * from final
