{{ config(
    materialized='incremental',
    incremental_strategy=segmart.window_strategy(),
    partition_by=segmart.window_partition_by('session_date'),
    on_schema_change='fail',
    meta={'window_column': 'session_date'},
    tags=['daily_partitioned'],
) }}

{#- Web sessions rebuilt from events: a visitor's session ends after
    var('session_timeout_minutes') of inactivity, and (when
    var('new_session_on_campaign_change')) a hit carrying a traffic source different from the
    last one seen starts a new session. The session's source / medium / campaign / channel
    are those of its first hit.
    Daily-partitioned and incremental (macros/incremental/window.sql): an incremental run
    re-sessionises the whole history of the visitors with a hit in the window (session
    numbers count every earlier session) and replaces the sessions that start in it.
    The person is resolved downstream (int_touchpoints), so identity changes never leave a
    stale person on an old session. -#}

{%- set timeout_seconds = var('session_timeout_minutes') | int * 60 %}

with

events as (

    select
        *,
        case
            when has_traffic_source
                then traffic_source || '|' || traffic_medium || '|' || traffic_campaign
        end as campaign_key
    from {{ ref('int_events_channeled') }}
    {%- if is_incremental() %}
    where visitor_key in (
        select visitor_key from {{ ref('int_events_channeled') }}
        where {{ segmart.in_window('event_at', 'timestamp') }}
    )
    {%- endif %}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

with_previous as (

    select
        *,
        lag(event_at) over (
            partition by visitor_key order by event_at, event_id
        ) as previous_event_at,
        {{ segmart.last_value_ignore_nulls('campaign_key') }} over (
            partition by visitor_key order by event_at, event_id
            rows between unbounded preceding and 1 preceding
        ) as previous_campaign_key
    from events

),

flagged as (

    select
        *,
        case
            when previous_event_at is null then 1
            when {{ segmart.seconds_between('previous_event_at', 'event_at') }} > {{ timeout_seconds }} then 1
            {% if var('new_session_on_campaign_change') -%}
            when campaign_key is not null and campaign_key <> coalesce(previous_campaign_key, '') then 1
            {%- endif %}
            else 0
        end as is_session_start
    from with_previous

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by visitor_key order by event_at, event_id
            rows between unbounded preceding and current row
        ) as session_number,
        row_number() over (
            partition by visitor_key order by event_at, event_id
        ) as visitor_event_number
    from flagged

),

sessioned as (

    select
        *,
        {{ segmart.surrogate_key("visitor_key || '|' || cast(session_number as " ~ dbt.type_string() ~ ")") }} as session_id,
        row_number() over (
            partition by visitor_key, session_number order by event_at, event_id
        ) as session_event_number
    from numbered

),

converted as (

    select
        sessioned.*,
        case when sessioned.event_name = 'purchase' or sessioned.transaction_id is not null
            then sessioned.revenue * coalesce(fx.rate_to_reporting, case
                when sessioned.currency_code is null
                    or sessioned.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            end)
        end as purchase_revenue_rc
    from sessioned
    left join fx
        on cast(sessioned.event_at as date) = fx.date_day
        and sessioned.currency_code = fx.currency_code

),

aggregated as (

    select
        session_id,
        visitor_key,
        session_number,
        max(user_pseudo_id) as user_pseudo_id,
        max(user_id) as user_id,
        min(event_at) as started_at,
        max(event_at) as ended_at,
        count(*) as events,
        cast(sum(case when event_name in ('page_view', 'pageview', 'screen_view') then 1 else 0 end) as bigint) as pageviews,
        max(case when event_name = 'purchase' or transaction_id is not null then 1 else 0 end) = 1
            as has_purchase,
        sum(coalesce(purchase_revenue_rc, 0)) as purchase_revenue_rc,
        count(distinct transaction_id) as transactions
    from converted
    group by session_id, visitor_key, session_number

),

first_hits as (

    select * from sessioned
    where session_event_number = 1

),

final as (

    select
        aggregated.session_id,
        aggregated.user_pseudo_id,
        aggregated.user_id,
        aggregated.visitor_key,
        aggregated.session_number,
        aggregated.started_at,
        aggregated.ended_at,
        cast(aggregated.started_at as date) as session_date,
        {{ segmart.seconds_between('aggregated.started_at', 'aggregated.ended_at') }} as duration_seconds,
        first_hits.page_path as landing_page,
        first_hits.page_topic as landing_page_topic,
        first_hits.traffic_source as source,
        first_hits.traffic_medium as medium,
        first_hits.traffic_campaign as campaign,
        first_hits.channel_group,
        first_hits.click_id_type,
        first_hits.device_category,
        first_hits.country_code,
        aggregated.events,
        aggregated.pageviews,
        aggregated.has_purchase,
        aggregated.purchase_revenue_rc as purchase_revenue,
        aggregated.transactions,
        aggregated.session_number = 1 as is_first_visit
    from aggregated
    inner join first_hits
        on aggregated.session_id = first_hits.session_id

)

select * from final
{%- if is_incremental() %}
where {{ segmart.in_window('session_date') }}
{%- endif %}
