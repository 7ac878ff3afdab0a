with

source as (

    select * from {{ source('crm', 'accounts') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['account_id']) }}

),

country_aliases as (

    select * from {{ ref('country_aliases') }}

),

renamed as (

    select
        trim(deduped.account_id) as account_id,
        {{ segmart.clean_text('deduped.account_name') }} as account_name,
        {{ segmart.url_host('deduped.domain') }} as account_domain,
        lower({{ segmart.regex_replace_all('trim(deduped.industry)', "' +'", "' '") }}) as industry_text,
        deduped.employees,
        deduped.annual_revenue,
        upper(trim(deduped.currency)) as currency_code,
        country_aliases.country_code,
        {{ segmart.clean_text('deduped.country') }} as country_text,
        {{ segmart.clean_text('deduped.region') }} as crm_region,
        {{ segmart.clean_text('deduped.city') }} as city,
        lower(trim(deduped.customer_type)) as customer_type_label,
        {{ segmart.clean_text('deduped.parent_account_id') }} as parent_account_id,
        lower(trim(deduped.technologies)) as technologies,
        deduped.created_at,
        deduped.updated_at,
        deduped._source_system as source_system,
        deduped._file_hash as source_file_hash,
        deduped._ingested_at as ingested_at,
        coalesce(deduped.is_deleted, false) as is_deleted

    from deduped
    left join country_aliases
        on lower(trim(deduped.country)) = country_aliases.country_alias

),

final as (

    select * from renamed
    where not is_deleted

)

select
    account_id,
    account_name,
    account_domain,
    industry_text,
    employees,
    annual_revenue,
    currency_code,
    country_code,
    country_text,
    crm_region,
    city,
    customer_type_label,
    parent_account_id,
    technologies,
    created_at,
    updated_at,
    source_system,
    source_file_hash,
    ingested_at
from final
