{#- Conversion propensity per firmographic cell (industry × size band × region).
    Trials are decided leads (their opportunity closed, lead status disqualified / lost /
    unqualified / junk / closed, or created more than var('propensity_lead_window_days')
    before the as-of date) plus closed opportunities that no lead converted into (CRMs such
    as the Maven dataset have deals but no leads). A trial is a success when it ended in a
    won deal. A lead's cell uses its own firmographics, else its account's.
    propensity_score = (won + w × global_rate) / (trials + w), w = var('propensity_prior_weight'):
    a Bayesian (beta-prior) smoothing toward the global rate, so small cells stay near it. -#}

with

leads as (

    select * from {{ ref('int_leads_stages') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_enriched') }}

),

accounts as (

    select * from {{ ref('int_accounts_enriched') }}

),

taxonomy as (

    select * from {{ ref('industry_taxonomy') }}

),

countries as (

    select * from {{ ref('country_regions') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

lead_trials as (

    select
        'lead:' || leads.lead_id as trial_id,
        coalesce(
            case when leads.industry_text is not null then coalesce(taxonomy.industry, 'Other') end,
            accounts.industry,
            'Unknown'
        ) as industry,
        case
            when leads.employees is not null then {{ segmart.size_band('leads.employees') }}
            else coalesce(accounts.size_band, 'unknown')
        end as size_band,
        coalesce(countries.region, accounts.region, 'Unknown') as region,
        leads.is_won,
        leads.is_opportunity_closed
            or leads.lead_status in ('disqualified', 'lost', 'unqualified', 'junk', 'closed', 'closed lost')
            or {{ segmart.days_between('leads.created_at', 'as_of.as_of_date') }}
                > {{ var('propensity_lead_window_days', 180) }} as is_decided
    from leads
    cross join as_of
    left join accounts
        on leads.account_id = accounts.account_id
    left join taxonomy
        on leads.industry_text = taxonomy.industry_variant
    left join countries
        on leads.country_code = countries.country_code

),

opportunity_trials as (

    select
        'opportunity:' || opportunities.opportunity_id as trial_id,
        coalesce(accounts.industry, 'Unknown') as industry,
        coalesce(accounts.size_band, 'unknown') as size_band,
        coalesce(accounts.region, 'Unknown') as region,
        opportunities.is_won,
        opportunities.is_closed as is_decided
    from opportunities
    left join accounts
        on opportunities.account_id = accounts.account_id
    where opportunities.opportunity_id not in (
        select opportunity_id from leads where opportunity_id is not null
    )

),

trials as (

    select * from lead_trials where is_decided
    union all
    select * from opportunity_trials where is_decided

),

global_rate as (

    select
        count(*) as trials,
        cast(sum(case when is_won then 1 else 0 end) as bigint) as won,
        coalesce(sum(case when is_won then 1.0 else 0.0 end) / nullif(count(*), 0), 0.0) as won_rate
    from trials

),

cells as (

    select
        industry,
        size_band,
        region,
        count(*) as cell_trials,
        cast(sum(case when is_won then 1 else 0 end) as bigint) as cell_won
    from trials
    group by industry, size_band, region

),

final as (

    select
        cells.industry,
        cells.size_band,
        cells.region,
        cells.cell_trials,
        cells.cell_won,
        cells.cell_won / cast(cells.cell_trials as double) as cell_won_rate,
        global_rate.won_rate as global_won_rate,
        cast(
            (cells.cell_won + {{ var('propensity_prior_weight') }} * global_rate.won_rate)
            / (cells.cell_trials + {{ var('propensity_prior_weight') }}) as double
        ) as propensity_score
    from cells
    cross join global_rate

)

select * from final
