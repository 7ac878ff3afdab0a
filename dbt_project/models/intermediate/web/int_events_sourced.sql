{{ config(
    materialized=segmart.incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='fail',
) }}

{#- Web events with the raw traffic source each hit carries, before channel grouping:
    UTM tags first; else a click id (seed channel_click_ids, lowest priority wins); else an
    external referrer (medium '(referral)'); else direct. Internal navigation (referrer on the
    site's own host) carries no traffic source.
    Beside it, the source the export itself recorded for the event's session (session_*_raw,
    has_session_source; int_sessions prefers it) and the user's first-acquisition source
    (first_user_*_raw, has_first_user_source), with '(not set)' for a missing part (GA4's
    placeholders are null since ingest).
    Incremental on load time (macros/incremental/load_time.sql): every column is a function
    of the event alone, so a run builds the events loaded since the last build and replaces
    them by event_id. -#}

{#- the staged events this run builds: those loaded since the last build (all on a full build) -#}
{%- set loaded = segmart.loaded_since_last_build() if is_incremental() else 'true' %}

with

events as (

    select
        *,
        cast(event_at as date) as event_date
    from {{ ref('stg_web__events') }}
    where {{ loaded }}

),

click_id_seed as (

    select * from {{ ref('channel_click_ids') }}

),

click_ids as (

    {#- read from the staged table itself: a second reader of the CTE events would make an
        engine materialise every staged column #}
    {%- set click_columns = ['gclid', 'msclkid', 'fbclid', 'ttclid', 'li_fat_id'] %}
    {% for column in click_columns %}
    select event_id, '{{ column }}' as click_id
    from {{ ref('stg_web__events') }}
    where {{ loaded }}
        and {{ column }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

first_click_id as (

    select
        click_ids.event_id,
        click_id_seed.click_id,
        click_id_seed.source,
        click_id_seed.medium,
        row_number() over (partition by click_ids.event_id order by click_id_seed.priority) as match_rank
    from click_ids
    inner join click_id_seed
        on click_ids.click_id = click_id_seed.click_id

),

sourced as (

    select
        events.*,
        first_click_id.click_id as click_id_type,
        events.utm_source is not null or events.utm_medium is not null as has_utm,
        events.referrer_host is not null
            and events.referrer_host <> coalesce(events.page_host, '') as has_external_referrer,
        first_click_id.source as click_source,
        first_click_id.medium as click_medium
    from events
    left join first_click_id
        on events.event_id = first_click_id.event_id
        and first_click_id.match_rank = 1

),

final as (

    select
        *,
        has_utm or click_id_type is not null or has_external_referrer as has_traffic_source,
        case
            when has_utm then coalesce(utm_source, click_source, '(not set)')
            when click_id_type is not null then click_source
            when has_external_referrer then referrer_host
            else '(direct)'
        end as traffic_source_raw,
        case
            when has_utm then coalesce(utm_medium, click_medium, '(not set)')
            when click_id_type is not null then click_medium
            when has_external_referrer then '(referral)'
            else '(none)'
        end as traffic_medium_raw,
        case
            when has_utm or click_id_type is not null then coalesce(utm_campaign, '(not set)')
            else '(not set)'
        end as traffic_campaign_raw,
        session_source is not null or session_medium is not null as has_session_source,
        coalesce(session_source, '(not set)') as session_source_raw,
        coalesce(session_medium, '(not set)') as session_medium_raw,
        coalesce(session_campaign, '(not set)') as session_campaign_raw,
        first_user_source is not null or first_user_medium is not null as has_first_user_source,
        coalesce(first_user_source, '(not set)') as first_user_source_raw,
        coalesce(first_user_medium, '(not set)') as first_user_medium_raw,
        coalesce(first_user_campaign, '(not set)') as first_user_campaign_raw
    from sourced

)

select * from final
