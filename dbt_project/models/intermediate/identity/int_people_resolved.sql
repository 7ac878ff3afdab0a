{{ config(materialized='table') }}

{#- One row per person_key: the CRM contact, shop customer and web identifiers that resolve to
    them, their e-mail domain and its type, and the account they belong to — by CRM link
    (contact, order or lead account_id) first, else by corporate e-mail domain. -#}

with

identity as (

    select * from {{ ref('int_identity') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

orders as (

    select * from {{ ref('stg_crm__orders') }}

),

domains as (

    select * from {{ ref('int_domains_classified') }}

),

account_domains as (

    select * from {{ ref('int_account_domains') }}

),

person_contacts as (

    select
        identity.person_key,
        min(contacts.contact_id) as contact_id,
        max(contacts.account_id) as crm_account_id,
        max(contacts.email_domain) as email_domain,
        max(contacts.country_code) as country_code,
        max(contacts.birth_year) as birth_year,
        max(contacts.gender) as gender,
        min(contacts.created_at) as contact_created_at
    from contacts
    inner join identity
        on identity.identifier_type = 'contact_id'
        and contacts.contact_id = identity.identifier_value
    group by identity.person_key

),

person_orders as (

    select
        coalesce(by_customer.person_key, by_email.person_key) as person_key,
        min(orders.customer_id) as customer_id,
        max(orders.account_id) as order_account_id,
        max(orders.email_domain) as email_domain,
        max(orders.country_code) as country_code
    from orders
    left join identity as by_customer
        on by_customer.identifier_type = 'customer_id'
        and orders.customer_id = by_customer.identifier_value
    left join identity as by_email
        on by_email.identifier_type = 'email_hash'
        and orders.email_hash = by_email.identifier_value
    where coalesce(by_customer.person_key, by_email.person_key) is not null
    group by coalesce(by_customer.person_key, by_email.person_key)

),

person_web as (

    select
        person_key,
        min(case when identifier_type = 'user_id' then identifier_value end) as user_id,
        count(case when identifier_type = 'user_pseudo_id' then 1 end) as devices
    from identity
    group by person_key

),

people as (

    select person_key from person_web

),

combined as (

    select
        people.person_key,
        person_contacts.contact_id,
        person_orders.customer_id,
        person_web.user_id,
        coalesce(person_web.devices, 0) as devices,
        coalesce(person_contacts.email_domain, person_orders.email_domain) as email_domain,
        coalesce(person_contacts.crm_account_id, person_orders.order_account_id) as crm_account_id,
        coalesce(person_contacts.country_code, person_orders.country_code) as country_code,
        person_contacts.birth_year,
        person_contacts.gender,
        person_contacts.contact_id is not null as is_crm_contact,
        person_orders.customer_id is not null as is_shop_customer
    from people
    left join person_contacts
        on people.person_key = person_contacts.person_key
    left join person_orders
        on people.person_key = person_orders.person_key
    left join person_web
        on people.person_key = person_web.person_key

),

final as (

    select
        combined.person_key,
        combined.contact_id,
        combined.customer_id,
        combined.user_id,
        combined.devices,
        combined.email_domain,
        coalesce(domains.domain_type, 'unknown') as email_domain_type,
        coalesce(domains.is_free_mail, false) as is_free_mail,
        coalesce(domains.is_government, false) as is_government_domain,
        coalesce(combined.crm_account_id, account_domains.account_id) as account_id,
        case
            when combined.crm_account_id is not null then 'crm_link'
            when account_domains.account_id is not null then 'email_domain'
        end as account_match_method,
        combined.country_code,
        combined.birth_year,
        combined.gender,
        combined.is_crm_contact,
        combined.is_shop_customer
    from combined
    left join domains
        on combined.email_domain = domains.domain
    left join account_domains
        on combined.email_domain = account_domains.domain

)

select * from final
