{#- The open pipeline now (as-of date), by current stage and deal type: deals, TCV, ACV and
    average age. The CRM exports carry the current stage only, so this is a snapshot, not a
    history; kpi_b2b_monthly has the open pipeline value at each month end. -#}

with

opportunities as (

    select * from {{ ref('fct_opportunities') }}
    where not is_closed

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

aggregated as (

    select
        coalesce(opportunities.stage, 'unknown') as stage,
        opportunities.deal_type,
        max(as_of.as_of_date) as as_of_date,
        count(*) as open_deals,
        sum(opportunities.tcv) as open_tcv,
        sum(opportunities.acv) as open_acv,
        avg(cast({{ segmart.days_between('opportunities.created_at', 'as_of.as_of_date') }} as double))
            as average_age_days
    from opportunities
    cross join as_of
    group by coalesce(opportunities.stage, 'unknown'), opportunities.deal_type

),

final as (

    select
        stage || '|' || deal_type as stage_deal_type_key,
        stage,
        deal_type,
        cast(as_of_date as date) as as_of_date,
        cast(open_deals as bigint) as open_deals,
        cast(coalesce(open_tcv, 0) as double) as open_tcv,
        cast(coalesce(open_acv, 0) as double) as open_acv,
        cast(average_age_days as double) as average_age_days
    from aggregated

)

select * from final
