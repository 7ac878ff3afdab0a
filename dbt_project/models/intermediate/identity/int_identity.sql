{{ config(materialized='table') }}

{#- Identity map: every identifier seen (contact_id, customer_id, email_hash, user_id,
    user_pseudo_id) → one person_key. Resolution, in order of strength:
      1. an e-mail hash links everything that carries it ('email');
      2. a contact without e-mail is its own person ('contact');
      3. a customer_id takes its orders' e-mail, else the contact with the same id, else is its
         own person ('customer');
      4. a web user_id takes its events' e-mail, else the contact, else the customer with the
         same id, else is its own person ('user');
      5. a user_pseudo_id (device) takes its latest user_id, else its e-mail, else is an
         anonymous person ('anonymous').
    person_key = md5 of the winning basis ('email:<hash>', 'contact:<id>', ...). Single-pass and
    deterministic (no transitive closure beyond these links). -#}

with

contacts as (

    select contact_id, email_hash
    from {{ ref('stg_crm__contacts') }}

),

order_customers as (

    select
        customer_id,
        max(email_hash) as email_hash
    from {{ ref('stg_crm__orders') }}
    where customer_id is not null
    group by customer_id

),

events as (

    select user_pseudo_id, user_id, email_hash, event_at, event_id
    from {{ ref('int_events_sourced') }}  -- every staged event, without re-running the view
    where user_pseudo_id is not null or user_id is not null

),

web_users as (

    select
        user_id,
        max(email_hash) as email_hash
    from events
    where user_id is not null
    group by user_id

),

pseudo_ids as (

    select
        user_pseudo_id,
        max(email_hash) as email_hash,
        max(latest_user_id) as latest_user_id
    from (
        select
            user_pseudo_id,
            email_hash,
            {{ segmart.last_value_ignore_nulls('user_id') }} over (
                partition by user_pseudo_id order by event_at, event_id
                rows between unbounded preceding and unbounded following
            ) as latest_user_id
        from events
        where user_pseudo_id is not null
    ) as pseudo_events
    group by user_pseudo_id

),

contact_basis as (

    select
        contact_id,
        case when email_hash is not null then 'email:' || email_hash else 'contact:' || contact_id end as basis,
        case when email_hash is not null then 'email' else 'contact' end as resolution_rule
    from contacts

),

customer_basis as (

    select
        order_customers.customer_id,
        case
            when order_customers.email_hash is not null then 'email:' || order_customers.email_hash
            when contact_basis.basis is not null then contact_basis.basis
            else 'customer:' || order_customers.customer_id
        end as basis,
        case
            when order_customers.email_hash is not null then 'email'
            when contact_basis.basis is not null then 'contact_id'
            else 'customer'
        end as resolution_rule
    from order_customers
    left join contact_basis
        on order_customers.customer_id = contact_basis.contact_id

),

user_basis as (

    select
        web_users.user_id,
        case
            when web_users.email_hash is not null then 'email:' || web_users.email_hash
            when contact_basis.basis is not null then contact_basis.basis
            when customer_basis.basis is not null then customer_basis.basis
            else 'user:' || web_users.user_id
        end as basis,
        case
            when web_users.email_hash is not null then 'email'
            when contact_basis.basis is not null then 'contact_id'
            when customer_basis.basis is not null then 'customer_id'
            else 'user'
        end as resolution_rule
    from web_users
    left join contact_basis
        on web_users.user_id = contact_basis.contact_id
    left join customer_basis
        on web_users.user_id = customer_basis.customer_id

),

pseudo_basis as (

    select
        pseudo_ids.user_pseudo_id,
        case
            when user_basis.basis is not null then user_basis.basis
            when pseudo_ids.email_hash is not null then 'email:' || pseudo_ids.email_hash
            else 'anonymous:' || pseudo_ids.user_pseudo_id
        end as basis,
        case
            when user_basis.basis is not null then 'user_id'
            when pseudo_ids.email_hash is not null then 'email'
            else 'anonymous'
        end as resolution_rule
    from pseudo_ids
    left join user_basis
        on pseudo_ids.latest_user_id = user_basis.user_id

),

email_hashes as (

    select distinct email_hash from contacts where email_hash is not null
    union
    select email_hash from order_customers where email_hash is not null
    union
    select email_hash from {{ ref('stg_crm__orders') }} where email_hash is not null
    union
    select email_hash from {{ ref('stg_crm__leads') }} where email_hash is not null
    union
    select email_hash from web_users where email_hash is not null

),

unioned as (

    select 'contact_id' as identifier_type, contact_id as identifier_value, basis, resolution_rule
    from contact_basis
    union all
    select 'customer_id', customer_id, basis, resolution_rule
    from customer_basis
    union all
    select 'user_id', user_id, basis, resolution_rule
    from user_basis
    union all
    select 'user_pseudo_id', user_pseudo_id, basis, resolution_rule
    from pseudo_basis
    union all
    select 'email_hash', email_hash, 'email:' || email_hash, 'email'
    from email_hashes

),

final as (

    select
        identifier_type,
        identifier_value,
        {{ segmart.surrogate_key('basis') }} as person_key,
        resolution_rule
    from unioned

)

select * from final
