{#- A table, not a view: pii_hash needs the PII key, which only dbt's own connections hold
    (macros/portable/pii.sql); a view would need it in every reader. URL parsing (host, path,
    UTM and click-id parameters), e-mail normalisation and hashing happen here once per raw
    row: every model and check reads the parsed columns.
    Incremental on load time (macros/incremental/load_time.sql): a run stages the raw rows
    loaded since the last build, keeps the latest version of each event among them (a later
    load is always the latest version) and replaces the earlier version by event_id. -#}
{{ config(
    materialized=segmart.incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='fail',
) }}

with

source as (

    select * from {{ source('web', 'events') }}
    {%- if is_incremental() %}
    where {{ segmart.loaded_since_last_build('_ingested_at', held_column='ingested_at') }}
    {%- endif %}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['event_id'], updated_column=none) }}

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
        trim(event_id) as event_id,
        event_at,
        lower(trim(event_name)) as event_name,
        {{ segmart.clean_text('user_pseudo_id') }} as user_pseudo_id,
        {{ segmart.clean_text('user_id') }} as user_id,
        {{ segmart.clean_text('session_id') }} as source_session_id,
        {{ segmart.clean_text('page_location') }} as page_location,
        {{ segmart.url_host('page_location') }} as page_host,
        {{ segmart.url_path('page_location') }} as page_path,
        {{ segmart.url_host('page_referrer') }} as referrer_host,
        lower(coalesce(
            {{ segmart.clean_text('utm_source') }},
            {{ segmart.url_param('page_location', 'utm_source') }}
        )) as utm_source,
        lower(coalesce(
            {{ segmart.clean_text('utm_medium') }},
            {{ segmart.url_param('page_location', 'utm_medium') }}
        )) as utm_medium,
        lower(coalesce(
            {{ segmart.clean_text('utm_campaign') }},
            {{ segmart.url_param('page_location', 'utm_campaign') }}
        )) as utm_campaign,
        lower(coalesce(
            {{ segmart.clean_text('utm_content') }},
            {{ segmart.url_param('page_location', 'utm_content') }}
        )) as utm_content,
        lower(coalesce(
            {{ segmart.clean_text('utm_term') }},
            {{ segmart.url_param('page_location', 'utm_term') }}
        )) as utm_term,
        lower({{ segmart.clean_text('session_source') }}) as session_source,
        lower({{ segmart.clean_text('session_medium') }}) as session_medium,
        lower({{ segmart.clean_text('session_campaign') }}) as session_campaign,
        lower({{ segmart.clean_text('first_user_source') }}) as first_user_source,
        lower({{ segmart.clean_text('first_user_medium') }}) as first_user_medium,
        lower({{ segmart.clean_text('first_user_campaign') }}) as first_user_campaign,
        coalesce({{ segmart.clean_text('gclid') }}, {{ segmart.url_param('page_location', 'gclid') }}) as gclid,
        coalesce({{ segmart.clean_text('fbclid') }}, {{ segmart.url_param('page_location', 'fbclid') }}) as fbclid,
        coalesce({{ segmart.clean_text('msclkid') }}, {{ segmart.url_param('page_location', 'msclkid') }}) as msclkid,
        coalesce({{ segmart.clean_text('ttclid') }}, {{ segmart.url_param('page_location', 'ttclid') }}) as ttclid,
        coalesce({{ segmart.clean_text('li_fat_id') }}, {{ segmart.url_param('page_location', 'li_fat_id') }}) as li_fat_id,
        lower(trim(device_category)) as device_category,
        country_code_normalized as country_code,
        {{ segmart.clean_text('transaction_id') }} as transaction_id,
        revenue,
        upper(trim(currency)) as currency_code,
        {{ segmart.pii_hash('email_normalized') }} as email_hash,
        _source_system as source_system,
        _ingested_at as ingested_at
    from normalized

)

select * from final
