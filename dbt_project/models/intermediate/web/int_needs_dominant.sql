{#- The dominant need of each person and each account, from the page topics they viewed
    (seed page_topic_rules; topics whose need is 'none' are ignored): the need with the most
    page views, ties broken by the need's name. -#}

with

identity as (

    select * from {{ ref('int_identity') }}

),

events as (

    {#- the person of an event: that of its device id, else of its user id (current
        identity map, as int_touchpoints resolves sessions) -#}
    select
        channeled.page_need,
        coalesce(by_pseudo_id.person_key, by_user_id.person_key) as person_key
    from {{ ref('int_events_channeled') }} as channeled
    left join identity as by_pseudo_id
        on by_pseudo_id.identifier_type = 'user_pseudo_id'
        and channeled.user_pseudo_id = by_pseudo_id.identifier_value
    left join identity as by_user_id
        on by_user_id.identifier_type = 'user_id'
        and channeled.user_id = by_user_id.identifier_value
    where channeled.page_need is not null and channeled.page_need <> 'none'

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

tagged as (

    select 'person' as entity_type, events.person_key as entity_id, events.page_need
    from events
    where events.person_key is not null
    union all
    select 'account', people.account_id, events.page_need
    from events
    inner join people
        on events.person_key = people.person_key
    where people.account_id is not null

),

counted as (

    select
        entity_type,
        entity_id,
        page_need as need,
        count(*) as need_pageviews
    from tagged
    group by entity_type, entity_id, page_need

),

ranked as (

    select
        *,
        sum(need_pageviews) over (partition by entity_type, entity_id) as topic_pageviews,
        row_number() over (
            partition by entity_type, entity_id order by need_pageviews desc, need
        ) as need_rank
    from counted

)

select
    entity_type,
    entity_id,
    need as dominant_need,
    need_pageviews,
    topic_pageviews
from ranked
where need_rank = 1
