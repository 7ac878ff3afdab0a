{#- The snapshot date of segment metrics (recency, trailing revenue, trends): var
    `as_of_date` when set, else the latest business date found in the data (orders, closed
    deals, leads, events), so historical exports score as of their own end. Open deals count
    with their create date only: their close date is the expected one, often months ahead.
    Events are read from int_events_sourced, a table holding every staged event: the staging
    view would de-duplicate the whole raw layer again. -#}

with

candidates as (

    select max(cast(ordered_at as date)) as business_date from {{ ref('stg_crm__orders') }}
    union all
    select max(cast(case when is_closed then coalesce(closed_at, created_at) else created_at end as date))
    from {{ ref('int_opportunities_enriched') }}
    union all
    select max(cast(created_at as date)) from {{ ref('stg_crm__leads') }}
    union all
    select max(event_date) from {{ ref('int_events_sourced') }}

),

final as (

    select
        {% if var('as_of_date', none) -%}
        cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
        coalesce(max(business_date), current_date)
        {%- endif %} as as_of_date
    from candidates

)

select * from final
