{#- B2B KPIs per month. Formulas (DESIGN.md), each on the events of the month:
    * funnel volumes: leads created, MQLs / SQLs reached, opportunities created;
    * win_rate = won / closed (won + lost) deals closed in the month;
    * sales cycle = closed_at − created_at of won deals (days; mean and median);
    * ACV = TCV / contract years (average over won deals); TCV = won deal amounts;
    * open pipeline at month end: deals created before the month ended and not closed by
      then (current amounts; the CRM export has no stage history, see
      kpi_pipeline_by_stage for the current split by stage);
    * renewal_rate = renewed contracts / contracts up for renewal: won contracts whose end
      date falls in the month, renewed when a won deal names them in renewal_of_opportunity_id;
    * service_revenue_share = won TCV of service deals / won TCV;
    * new_accounts: accounts whose first won deal closed in the month (fct_opportunities
      is_first_won_deal) — the same accounts as dim_accounts.first_won_at in that month;
    * cost per lead / per opportunity and CAC (per new account = first won deal) use all
      ad spend of the month (spend is not split by motion; per channel see
      kpi_channel_monthly);
    * NPS of respondents with a company account, and of key accounts (dim_accounts). -#}

with

leads as (

    select * from {{ ref('fct_leads') }}

),

opportunities as (

    select * from {{ ref('fct_opportunities') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

months as (

    {{ segmart.month_spine(
        '(select min(started_at) from (select created_at as started_at from leads union all select created_at from opportunities union all select closed_at from opportunities) as starts)',
        '(select as_of_date from as_of)',
    ) }}

),

lead_events as (

    select month_start, sum(leads) as leads, sum(mqls) as mqls, sum(sqls) as sqls
    from (
        select created_month as month_start, 1 as leads, 0 as mqls, 0 as sqls from leads
        union all
        select {{ segmart.month_start('mql_at') }}, 0, 1, 0 from leads where mql_at is not null
        union all
        select {{ segmart.month_start('sql_at') }}, 0, 0, 1 from leads where sql_at is not null
    ) as events
    group by month_start

),

created as (

    select
        created_month as month_start,
        count(*) as opportunities_created,
        sum(tcv) as created_tcv
    from opportunities
    group by created_month

),

closed as (

    select
        closed_month as month_start,
        sum(case when is_won then 1 else 0 end) as won_deals,
        sum(case when is_closed and not is_won then 1 else 0 end) as lost_deals,
        sum(case when is_won then tcv else 0 end) as won_tcv,
        sum(case when is_won then acv else 0 end) as won_acv,
        sum(case when is_won then gross_profit else 0 end) as won_gross_profit,
        sum(case when is_won and deal_type = 'service' then tcv else 0 end) as won_service_tcv,
        sum(case when is_won and is_first_won_deal then 1 else 0 end) as new_accounts,
        avg(case when is_won then cast(sales_cycle_days as double) end) as sales_cycle_days_mean,
        {{ segmart.median('case when is_won then cast(sales_cycle_days as double) end') }}
            as sales_cycle_days_median
    from opportunities
    where is_closed and closed_month is not null
    group by closed_month

),

pipeline as (

    select
        months.month_start,
        count(*) as open_pipeline_deals,
        sum(opportunities.tcv) as open_pipeline_value
    from months
    inner join opportunities
        on opportunities.created_at < {{ segmart.add_months('months.month_start', 1) }}
        and (opportunities.closed_at is null
            or opportunities.closed_at >= {{ segmart.add_months('months.month_start', 1) }})
    group by months.month_start

),

renewals_due as (

    select
        {{ segmart.month_start('due.contract_end_date') }} as month_start,
        count(*) as contracts_up_for_renewal,
        sum(case when renewals.renewal_of_opportunity_id is not null then 1 else 0 end)
            as renewed_contracts
    from opportunities as due
    left join (
        select distinct renewal_of_opportunity_id
        from opportunities
        where is_won and renewal_of_opportunity_id is not null
    ) as renewals
        on due.opportunity_id = renewals.renewal_of_opportunity_id
    cross join as_of
    where due.is_won
        and due.contract_end_date is not null
        -- only contracts due by the as-of date: later ones are not decided yet (this also
        -- keeps implausible far-future dates out of the month arithmetic)
        and due.contract_end_date <= as_of.as_of_date
    group by {{ segmart.month_start('due.contract_end_date') }}

),

spend as (

    select spend_month as month_start, sum(spend) as spend
    from {{ ref('fct_ad_spend_daily') }}
    group by spend_month

),

nps as (

    select
        response_month as month_start,
        sum(case when respondent_type = 'account' then 1 else 0 end) as nps_responses,
        {{ segmart.nps("respondent_type = 'account'") }} as nps,
        sum(case when is_key_account then 1 else 0 end) as key_account_nps_responses,
        {{ segmart.nps('is_key_account') }} as key_account_nps
    from {{ ref('fct_nps_responses') }}
    group by response_month

),

joined as (

    select
        months.month_start,
        cast(coalesce(lead_events.leads, 0) as bigint) as leads,
        cast(coalesce(lead_events.mqls, 0) as bigint) as mqls,
        cast(coalesce(lead_events.sqls, 0) as bigint) as sqls,
        cast(coalesce(created.opportunities_created, 0) as bigint) as opportunities_created,
        cast(coalesce(created.created_tcv, 0) as double) as created_tcv,
        cast(coalesce(closed.won_deals, 0) as bigint) as won_deals,
        cast(coalesce(closed.lost_deals, 0) as bigint) as lost_deals,
        cast(coalesce(closed.new_accounts, 0) as bigint) as new_accounts,
        cast(coalesce(closed.won_tcv, 0) as double) as won_tcv,
        cast(coalesce(closed.won_acv, 0) as double) as won_acv,
        cast(coalesce(closed.won_gross_profit, 0) as double) as won_gross_profit,
        cast(coalesce(closed.won_service_tcv, 0) as double) as won_service_tcv,
        cast(closed.sales_cycle_days_mean as double) as sales_cycle_days_mean,
        cast(closed.sales_cycle_days_median as double) as sales_cycle_days_median,
        cast(coalesce(pipeline.open_pipeline_deals, 0) as bigint) as open_pipeline_deals,
        cast(coalesce(pipeline.open_pipeline_value, 0) as double) as open_pipeline_value,
        cast(coalesce(renewals_due.contracts_up_for_renewal, 0) as bigint) as contracts_up_for_renewal,
        cast(coalesce(renewals_due.renewed_contracts, 0) as bigint) as renewed_contracts,
        cast(coalesce(spend.spend, 0) as double) as spend,
        cast(coalesce(nps.nps_responses, 0) as bigint) as nps_responses,
        nps.nps,
        cast(coalesce(nps.key_account_nps_responses, 0) as bigint) as key_account_nps_responses,
        nps.key_account_nps
    from months
    left join lead_events on months.month_start = lead_events.month_start
    left join created on months.month_start = created.month_start
    left join closed on months.month_start = closed.month_start
    left join pipeline on months.month_start = pipeline.month_start
    left join renewals_due on months.month_start = renewals_due.month_start
    left join spend on months.month_start = spend.month_start
    left join nps on months.month_start = nps.month_start

),

final as (

    select
        *,
        {{ segmart.safe_divide('won_deals', 'won_deals + lost_deals') }} as win_rate,
        {{ segmart.safe_divide('won_acv', 'won_deals') }} as average_acv,
        {{ segmart.safe_divide('won_tcv', 'won_deals') }} as average_tcv,
        {{ segmart.safe_divide('renewed_contracts', 'contracts_up_for_renewal') }} as renewal_rate,
        {{ segmart.safe_divide('won_service_tcv', 'won_tcv') }} as service_revenue_share,
        {{ segmart.spend_ratio('spend', 'leads', 'spend') }} as cost_per_lead,
        {{ segmart.spend_ratio('spend', 'opportunities_created', 'spend') }} as cost_per_opportunity,
        {{ segmart.spend_ratio('spend', 'new_accounts', 'spend') }} as blended_cac
    from joined

)

select * from final
