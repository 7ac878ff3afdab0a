{#- The lead funnel by channel: leads created in a month (cohort by creation month), split
    by channel and lead type (demo request, download, form fill, ...), and how many of them
    have reached MQL, SQL, opportunity and won so far, with the won TCV and the stage
    conversion rates. A later stage implies the earlier ones (fct_leads flags). -#}

with

leads as (

    select * from {{ ref('fct_leads') }}

),

opportunities as (

    select opportunity_id, tcv from {{ ref('fct_opportunities') }}

),

aggregated as (

    select
        leads.created_month as month_start,
        leads.channel,
        leads.lead_type,
        count(*) as leads,
        sum(case when leads.is_mql then 1 else 0 end) as mqls,
        sum(case when leads.is_sql then 1 else 0 end) as sqls,
        sum(case when leads.is_converted then 1 else 0 end) as opportunities,
        sum(case when leads.is_won then 1 else 0 end) as won_deals,
        sum(case when leads.is_won then opportunities.tcv else 0 end) as won_tcv
    from leads
    left join opportunities
        on leads.opportunity_id = opportunities.opportunity_id
    group by leads.created_month, leads.channel, leads.lead_type

),

final as (

    select
        cast(month_start as {{ dbt.type_string() }}) || '|' || channel || '|' || lead_type
            as funnel_key,
        month_start,
        channel,
        lead_type,
        cast(leads as bigint) as leads,
        cast(mqls as bigint) as mqls,
        cast(sqls as bigint) as sqls,
        cast(opportunities as bigint) as opportunities,
        cast(won_deals as bigint) as won_deals,
        cast(coalesce(won_tcv, 0) as double) as won_tcv,
        {{ segmart.safe_divide('mqls', 'leads') }} as lead_to_mql_rate,
        {{ segmart.safe_divide('sqls', 'mqls') }} as mql_to_sql_rate,
        {{ segmart.safe_divide('opportunities', 'leads') }} as lead_to_opportunity_rate,
        {{ segmart.safe_divide('won_deals', 'opportunities') }} as opportunity_to_won_rate,
        {{ segmart.safe_divide('won_deals', 'leads') }} as lead_to_won_rate
    from aggregated

)

select * from final
