with

source as (

    select * from {{ source('crm', 'opportunities') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['opportunity_id']) }}

),

final as (

    select
        trim(opportunity_id) as opportunity_id,
        {{ segmart.clean_text('account_id') }} as account_id,
        {{ segmart.clean_text('contact_id') }} as contact_id,
        {{ segmart.clean_text('lead_id') }} as lead_id,
        {{ segmart.clean_text('opportunity_name') }} as opportunity_name,
        lower({{ segmart.regex_replace_all('trim(stage)', "'[ _-]+'", "' '") }}) as stage_text,
        is_closed as is_closed_reported,
        is_won as is_won_reported,
        amount,
        upper(trim(currency)) as currency_code,
        lower(trim(deal_type)) as deal_type_text,
        {{ segmart.clean_text('product') }} as product,
        contract_start_date,
        contract_end_date,
        contract_months,
        {{ segmart.clean_text('renewal_of_opportunity_id') }} as renewal_of_opportunity_id,
        {{ segmart.clean_text('lead_source') }} as lead_source,
        contacts_involved,
        {{ segmart.clean_text('owner') }} as owner_name,
        created_at,
        closed_at,
        updated_at,
        _source_system as source_system,
        _ingested_at as ingested_at
    from deduped
    where not coalesce(is_deleted, false)

)

select * from final
