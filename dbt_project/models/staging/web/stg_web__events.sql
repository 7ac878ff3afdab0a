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

{%- set url_parameters = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term',
                         'gclid', 'fbclid', 'msclkid', 'ttclid', 'li_fat_id'] %}
{#- the raw rows this run stages: those loaded since the last build (all on a full build) -#}
{%- set loaded = segmart.loaded_since_last_build('_ingested_at', held_column='ingested_at')
    if is_incremental() else 'true' %}

with

{#- The latest version of each event: only the event ids loaded more than once are ranked
    (dedupe_latest's rule); every other row passes without a sort of the whole load. The raw
    rows are read where needed (not through one CTE, which an engine may materialise). #}
repeated_ids as (

    select event_id
    from {{ source('web', 'events') }} where {{ loaded }}
    group by event_id
    having count(*) > 1

),

repeated as (

    select source.*
    from {{ source('web', 'events') }} as source
    inner join repeated_ids
        on source.event_id = repeated_ids.event_id
    where {{ loaded }}

),

latest_repeated as (

    {{ segmart.dedupe_latest('repeated', ['event_id'], updated_column=none) }}

),

deduped as (

    select source.*, 1 as _version_rank
    from {{ source('web', 'events') }} as source
    left join repeated_ids
        on source.event_id = repeated_ids.event_id
    where {{ loaded }}
        and repeated_ids.event_id is null
    union all
    select *
    from latest_repeated

),

country_aliases as (

    select * from {{ ref('country_aliases') }}

),

{#- URLs repeat (a site has few pages and referrers): each distinct one is parsed once and
    joined back, instead of running the regexes on every event. #}
page_urls as (

    select
        page_location,
        {{ segmart.url_host('page_location') }} as page_host,
        {{ segmart.url_path('page_location') }} as page_path,
        {%- for name in url_parameters %}
        {{ segmart.url_param('page_location', name) }} as url_{{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (select distinct page_location from {{ source('web', 'events') }} where {{ loaded }}) as urls
    where page_location is not null

),

referrer_urls as (

    select
        page_referrer,
        {{ segmart.url_host('page_referrer') }} as referrer_host
    from (select distinct page_referrer from {{ source('web', 'events') }} where {{ loaded }}) as urls
    where page_referrer is not null

),

normalized as (

    select
        deduped.*,
        {{ segmart.normalize_email('deduped.email') }} as email_normalized,
        country_aliases.country_code as country_code_normalized,
        page_urls.page_host,
        coalesce(page_urls.page_path, '/') as page_path,
        {%- for name in url_parameters %}
        page_urls.url_{{ name }},
        {%- endfor %}
        referrer_urls.referrer_host
    from deduped
    left join country_aliases
        on lower(trim(deduped.country)) = country_aliases.country_alias
    left join page_urls
        on deduped.page_location = page_urls.page_location
    left join referrer_urls
        on deduped.page_referrer = referrer_urls.page_referrer

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
        page_host,
        page_path,
        referrer_host,
        lower(coalesce(
            {{ segmart.clean_text('utm_source') }},
            url_utm_source
        )) as utm_source,
        lower(coalesce(
            {{ segmart.clean_text('utm_medium') }},
            url_utm_medium
        )) as utm_medium,
        lower(coalesce(
            {{ segmart.clean_text('utm_campaign') }},
            url_utm_campaign
        )) as utm_campaign,
        lower(coalesce(
            {{ segmart.clean_text('utm_content') }},
            url_utm_content
        )) as utm_content,
        lower(coalesce(
            {{ segmart.clean_text('utm_term') }},
            url_utm_term
        )) as utm_term,
        lower({{ segmart.clean_text('session_source') }}) as session_source,
        lower({{ segmart.clean_text('session_medium') }}) as session_medium,
        lower({{ segmart.clean_text('session_campaign') }}) as session_campaign,
        lower({{ segmart.clean_text('first_user_source') }}) as first_user_source,
        lower({{ segmart.clean_text('first_user_medium') }}) as first_user_medium,
        lower({{ segmart.clean_text('first_user_campaign') }}) as first_user_campaign,
        coalesce({{ segmart.clean_text('gclid') }}, url_gclid) as gclid,
        coalesce({{ segmart.clean_text('fbclid') }}, url_fbclid) as fbclid,
        coalesce({{ segmart.clean_text('msclkid') }}, url_msclkid) as msclkid,
        coalesce({{ segmart.clean_text('ttclid') }}, url_ttclid) as ttclid,
        coalesce({{ segmart.clean_text('li_fat_id') }}, url_li_fat_id) as li_fat_id,
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
