{{ config(
    materialized=segmart.incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='visitor_key',
    on_schema_change='fail',
) }}

{#- Marketing touchpoints, the input of attribution: one row per web session with its
    channel, source, medium and campaign, the person it belongs to (null for anonymous
    visitors never identified) and when it happened. The person is resolved here from the
    session's device id (else its user id) with the current identity map: a visitor who logs
    in later moves all their earlier sessions to the person.
    Incremental by visitor (macros/incremental/load_time.sql), like int_sessions: a run
    rebuilds every touchpoint of each visitor who has a session loaded since the last build
    (int_sessions re-sessionised them) or whose person changed (a row held here whose device
    id / user id now resolves to another person, or to none: a login, a merge of two people),
    and replaces all of that visitor's rows. The result equals a full rebuild: every column is
    a function of the visitor's sessions and of the identity map at their ids. -#}

with

identity as (

    select * from {{ ref('int_identity') }}

),

{%- if is_incremental() %}

held_people as (

    select
        held.visitor_key,
        held.person_key as held_person_key,
        coalesce(by_pseudo_id.person_key, by_user_id.person_key) as person_key
    from {{ this }} as held
    left join identity as by_pseudo_id
        on by_pseudo_id.identifier_type = 'user_pseudo_id'
        and held.user_pseudo_id = by_pseudo_id.identifier_value
    left join identity as by_user_id
        on by_user_id.identifier_type = 'user_id'
        and held.user_id = by_user_id.identifier_value

),

touched_visitors as (

    select visitor_key from {{ ref('int_sessions') }}
    where {{ segmart.loaded_since_last_build() }}
    union
    select visitor_key from held_people
    where held_person_key is distinct from person_key

),

{%- endif %}

sessions as (

    select * from {{ ref('int_sessions') }}
    {%- if is_incremental() %}
    where visitor_key in (select visitor_key from touched_visitors)
    {%- endif %}

),

resolved as (

    {#- an event's person is that of its device id, else of its user id, and a session's
        events share its visitor key (device id, else user id): so this is the person of
        every event of the session -#}
    select
        sessions.*,
        coalesce(by_pseudo_id.person_key, by_user_id.person_key) as person_key
    from sessions
    left join identity as by_pseudo_id
        on by_pseudo_id.identifier_type = 'user_pseudo_id'
        and sessions.user_pseudo_id = by_pseudo_id.identifier_value
    left join identity as by_user_id
        on by_user_id.identifier_type = 'user_id'
        and sessions.user_id = by_user_id.identifier_value

),

final as (

    select
        session_id as touchpoint_id,
        'web_session' as touchpoint_type,
        session_id,
        person_key,
        user_pseudo_id,
        user_id,
        visitor_key,
        started_at as touched_at,
        channel_group,
        first_user_channel_group,
        source,
        medium,
        campaign,
        landing_page,
        channel_group = 'Direct' as is_direct,
        has_purchase,
        purchase_revenue,
        ingested_at
    from resolved

)

select * from final
