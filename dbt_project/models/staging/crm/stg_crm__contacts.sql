{#- A table, not a view: pii_hash needs the PII key, which only dbt's own connections hold
    (macros/portable/pii.sql); a view would need it in every reader. -#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('crm', 'contacts') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['contact_id']) }}

),

country_aliases as (

    select * from {{ ref('country_aliases') }}

),

normalized as (

    select
        deduped.*,
        {{ segmart.normalize_email('deduped.email') }} as email_normalized,
        {{ segmart.normalize_phone('deduped.phone') }} as phone_normalized,
        country_aliases.country_code as country_code_normalized
    from deduped
    left join country_aliases
        on lower(trim(deduped.country)) = country_aliases.country_alias

),

final as (

    select
        trim(contact_id) as contact_id,
        {{ segmart.clean_text('account_id') }} as account_id,
        {{ segmart.pii_hash('email_normalized') }} as email_hash,
        {{ segmart.split_part('email_normalized', "'@'", 2) }} as email_domain,
        {{ segmart.pii_hash('phone_normalized') }} as phone_hash,
        {{ segmart.clean_text('job_title') }} as job_title,
        {{ segmart.clean_text('company_name') }} as company_name,
        country_code_normalized as country_code,
        {{ segmart.clean_text('city') }} as city,
        year(birth_date) as birth_year,
        case
            when lower(trim(gender)) in ('m', 'male', 'man') then 'male'
            when lower(trim(gender)) in ('f', 'female', 'woman') then 'female'
            when nullif(trim(gender), '') is not null then 'other'
        end as gender,
        lower(trim(lifecycle_stage)) as lifecycle_stage,
        {{ segmart.clean_text('lead_source') }} as lead_source,
        created_at,
        updated_at,
        _source_system as source_system,
        _ingested_at as ingested_at
    from normalized
    where not coalesce(is_deleted, false)

)

select * from final
