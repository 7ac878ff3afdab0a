{#- The evidence the account motion rule weighs, one row per account: domain type, static
    label, industry, contacts and their e-mail domain types, deal size, contacts involved,
    sales-cycle length and whether the account also buys through orders. -#}

with

accounts as (

    select * from {{ ref('int_accounts_enriched') }}

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_enriched') }}

),

orders as (

    select * from {{ ref('int_orders') }}

),

contact_stats as (

    select
        account_id,
        count(*) as contacts,
        cast(sum(case when email_domain_type = 'free_mail' then 1 else 0 end) as bigint) as free_mail_contacts,
        cast(sum(case when email_domain_type = 'corporate' then 1 else 0 end) as bigint) as corporate_contacts,
        cast(sum(case when email_domain_type = 'government' then 1 else 0 end) as bigint) as government_contacts
    from people
    where is_crm_contact and account_id is not null
    group by account_id

),

deal_stats as (

    select
        account_id,
        count(*) as opportunities,
        cast(sum(case when is_won then 1 else 0 end) as bigint) as won_opportunities,
        {{ segmart.median('case when is_won then amount_rc end') }} as median_won_amount_rc,
        avg(cast(contacts_involved as double)) as avg_contacts_involved,
        {{ segmart.median('case when is_closed then cast(cycle_days as double) end') }} as median_cycle_days
    from opportunities
    where account_id is not null
    group by account_id

),

order_stats as (

    select
        coalesce(orders.account_id, people.account_id) as account_id,
        cast(sum(case when orders.is_purchase then 1 else 0 end) as bigint) as purchase_orders
    from orders
    left join people
        on orders.customer_key = people.person_key
    where coalesce(orders.account_id, people.account_id) is not null
    group by coalesce(orders.account_id, people.account_id)

),

final as (

    select
        accounts.account_id,
        accounts.customer_type_label,
        accounts.industry,
        accounts.domain_type,
        coalesce(contact_stats.contacts, 0) as contacts,
        coalesce(contact_stats.free_mail_contacts, 0) as free_mail_contacts,
        coalesce(contact_stats.corporate_contacts, 0) as corporate_contacts,
        coalesce(contact_stats.government_contacts, 0) as government_contacts,
        coalesce(deal_stats.opportunities, 0) as opportunities,
        coalesce(deal_stats.won_opportunities, 0) as won_opportunities,
        deal_stats.median_won_amount_rc,
        deal_stats.avg_contacts_involved,
        deal_stats.median_cycle_days,
        coalesce(order_stats.purchase_orders, 0) as purchase_orders
    from accounts
    left join contact_stats
        on accounts.account_id = contact_stats.account_id
    left join deal_stats
        on accounts.account_id = deal_stats.account_id
    left join order_stats
        on accounts.account_id = order_stats.account_id

)

select * from final
