{#- A table, not a view: pii_hash needs the PII key, which only dbt's own connections hold
    (macros/portable/pii.sql); a view would need it in every reader. -#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('crm', 'leads') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['lead_id']) }}

),

country_aliases as (

    select * from {{ ref('country_aliases') }}

),

normalized as (

    select
        deduped.*,
        {{ segmart.normalize_email('deduped.email') }} as email_normalized,
        country_aliases.country_code as country_code_normalized
    from deduped
    left join country_aliases
        on lower(trim(deduped.country)) = country_aliases.country_alias

),

final as (

    select
        trim(lead_id) as lead_id,
        {{ segmart.clean_text('contact_id') }} as contact_id,
        {{ segmart.clean_text('account_id') }} as account_id,
        {{ segmart.pii_hash('email_normalized') }} as email_hash,
        {{ segmart.split_part('email_normalized', "'@'", 2) }} as email_domain,
        {{ segmart.clean_text('company_name') }} as company_name,
        lower({{ segmart.regex_replace_all('trim(industry)', "' +'", "' '") }}) as industry_text,
        employees,
        country_code_normalized as country_code,
        {{ segmart.clean_text('lead_source') }} as lead_source,
        coalesce(lower(trim(lead_type)), 'other') as lead_type,
        lower({{ segmart.clean_text('utm_source') }}) as utm_source,
        lower({{ segmart.clean_text('utm_medium') }}) as utm_medium,
        lower({{ segmart.clean_text('utm_campaign') }}) as utm_campaign,
        lower(trim(status)) as lead_status,
        created_at,
        mql_at,
        sql_at,
        converted_at,
        {{ segmart.clean_text('converted_opportunity_id') }} as converted_opportunity_id,
        updated_at,
        _source_system as source_system,
        _ingested_at as ingested_at
    from normalized
    where not coalesce(is_deleted, false)

)

select * from final
