{#- A table, not a view: pii_hash needs the PII key, which only dbt's own connections hold
    (macros/portable/pii.sql); a view would need it in every reader. -#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('crm', 'nps_responses') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['response_id'], updated_column=none) }}

),

normalized as (

    select
        deduped.*,
        {{ segmart.normalize_email('deduped.email') }} as email_normalized
    from deduped

),

final as (

    select
        trim(response_id) as response_id,
        {{ segmart.clean_text('contact_id') }} as contact_id,
        {{ segmart.clean_text('customer_id') }} as customer_id,
        {{ segmart.clean_text('account_id') }} as account_id,
        {{ segmart.pii_hash('email_normalized') }} as email_hash,
        score as nps_score,
        case
            when score >= 9 then 'promoter'
            when score >= 7 then 'passive'
            else 'detractor'
        end as nps_category,
        {{ segmart.clean_text('survey') }} as survey,
        responded_at,
        _source_system as source_system,
        _ingested_at as ingested_at
    from normalized
    where score between 0 and 10

)

select * from final
