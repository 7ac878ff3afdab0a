{#- One row per NPS survey response (score 0-10; promoter 9-10, passive 7-8, detractor 0-6)
    with the respondent resolved to a person, customer and account. respondent_type:
    'account' when the respondent belongs to a company account (B2B NPS), else 'customer'
    (B2C NPS). is_key_account flags responses from key accounts (dim_accounts). -#}

with

responses as (

    select * from {{ ref('stg_crm__nps_responses') }}

),

identity as (

    select * from {{ ref('int_identity') }}

),

people as (

    select person_key, account_id from {{ ref('int_people_resolved') }}

),

accounts as (

    select account_id, is_key_account, motion from {{ ref('dim_accounts') }}

),

resolved as (

    select
        responses.*,
        coalesce(by_contact.person_key, by_customer.person_key, by_email.person_key) as person_key
    from responses
    left join identity as by_contact
        on by_contact.identifier_type = 'contact_id'
        and responses.contact_id = by_contact.identifier_value
    left join identity as by_customer
        on by_customer.identifier_type = 'customer_id'
        and responses.customer_id = by_customer.identifier_value
    left join identity as by_email
        on by_email.identifier_type = 'email_hash'
        and responses.email_hash = by_email.identifier_value

),

final as (

    select
        resolved.response_id,
        resolved.person_key,
        resolved.customer_id,
        resolved.contact_id,
        coalesce(resolved.account_id, people.account_id) as account_id,
        case when coalesce(resolved.account_id, people.account_id) is not null
            then 'account' else 'customer' end as respondent_type,
        coalesce(accounts.is_key_account, false) as is_key_account,
        resolved.nps_score,
        resolved.nps_category,
        resolved.nps_category = 'promoter' as is_promoter,
        resolved.nps_category = 'detractor' as is_detractor,
        resolved.survey,
        resolved.responded_at,
        {{ segmart.month_start('resolved.responded_at') }} as response_month
    from resolved
    left join people
        on resolved.person_key = people.person_key
    left join accounts
        on coalesce(resolved.account_id, people.account_id) = accounts.account_id

)

select * from final
