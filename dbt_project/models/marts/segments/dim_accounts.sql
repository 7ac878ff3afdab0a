{#- One row per account (customers and prospects): firmographic bands, derived motion,
    revenue-based value tier and growth trend, technographic sophistication, needs segment
    and the conversion propensity of its firmographic cell. Accounts that only deals or
    leads name (no account export holds them) are rows too (account_source), and
    first_won_at is the close of the account's first won deal: the accounts counted as
    kpi_b2b_monthly.new_accounts in that month. -#}

{%- set key_share = var('key_account_revenue_share') %}
{%- set key_ids = var('key_account_ids') %}

with

accounts as (

    select * from {{ ref('int_accounts_enriched') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

motion as (

    select * from {{ ref('int_accounts_motion') }}

),

signals as (

    select * from {{ ref('int_accounts_motion_signals') }}

),

revenue_monthly as (

    select * from {{ ref('int_account_revenue_monthly') }}

),

cells as (

    select * from {{ ref('int_propensity_cells') }}

),

global_rate as (

    select max(global_won_rate) as global_won_rate from cells

),

needs as (

    select * from {{ ref('int_needs_dominant') }}
    where entity_type = 'account'

),

open_opportunities as (

    select account_id, count(*) as open_opportunities
    from {{ ref('int_opportunities_enriched') }}
    where not is_closed and account_id is not null
    group by account_id

),

first_won as (

    select account_id, min(closed_at) as first_won_at
    from {{ ref('int_opportunities_enriched') }}
    where is_won and account_id is not null and closed_at is not null
    group by account_id

),

revenue_windows as (

    select
        revenue_monthly.account_id,
        sum(case
            when revenue_monthly.month_start > {{ segmart.add_months(segmart.month_start('as_of.as_of_date'), -12) }}
                and revenue_monthly.month_start <= {{ segmart.month_start('as_of.as_of_date') }}
                then revenue_monthly.revenue_rc else 0 end) as trailing_12m_revenue_rc,
        sum(case
            when revenue_monthly.month_start > {{ segmart.add_months(segmart.month_start('as_of.as_of_date'), -24) }}
                and revenue_monthly.month_start <= {{ segmart.add_months(segmart.month_start('as_of.as_of_date'), -12) }}
                then revenue_monthly.revenue_rc else 0 end) as prior_12m_revenue_rc,
        sum(case when revenue_monthly.month_start <= {{ segmart.month_start('as_of.as_of_date') }}
            then revenue_monthly.revenue_rc else 0 end) as lifetime_revenue_rc
    from revenue_monthly
    cross join as_of
    group by revenue_monthly.account_id

),

revenue_ranked as (

    select
        account_id,
        row_number() over (order by trailing_12m_revenue_rc desc, account_id) as revenue_rank,
        count(*) over () as revenue_accounts
    from revenue_windows
    where trailing_12m_revenue_rc > 0

),

joined as (

    select
        accounts.*,
        coalesce(revenue_windows.trailing_12m_revenue_rc, 0.0) as trailing_12m_revenue_rc,
        coalesce(revenue_windows.prior_12m_revenue_rc, 0.0) as prior_12m_revenue_rc,
        coalesce(revenue_windows.lifetime_revenue_rc, 0.0) as lifetime_revenue_rc,
        revenue_ranked.revenue_rank,
        revenue_ranked.revenue_accounts,
        {% if key_ids | length > 0 -%}
        accounts.account_id in ('{{ key_ids | join("', '") }}')
        {%- else -%}
        false
        {%- endif %} as is_named_key_account
    from accounts
    left join revenue_windows
        on accounts.account_id = revenue_windows.account_id
    left join revenue_ranked
        on accounts.account_id = revenue_ranked.account_id

),

final as (

    select
        joined.account_id,
        joined.account_name,
        joined.account_domain,
        joined.industry,
        joined.employees,
        joined.size_band,
        joined.annual_revenue_rc,
        joined.revenue_band,
        joined.country_code,
        joined.country_name,
        joined.region,
        case
            when joined.customer_type_label in ('b2b', 'business', 'company') then 'B2B'
            when joined.customer_type_label in ('b2c', 'consumer') then 'B2C'
            when joined.customer_type_label in ('b2g', 'government', 'public sector') then 'B2G'
            when motion.motion = 'hybrid' then 'Hybrid'
            else upper(motion.motion)
        end as customer_type,
        motion.motion,
        motion.motion_reason,
        case
            when signals.won_opportunities > 0 or signals.purchase_orders > 0 then 'customer'
            when open_opportunities.open_opportunities > 0 then 'opportunity'
            else 'prospect'
        end as lifecycle_stage,
        joined.trailing_12m_revenue_rc,
        joined.prior_12m_revenue_rc,
        joined.lifetime_revenue_rc,
        case when joined.prior_12m_revenue_rc > 0
            then (joined.trailing_12m_revenue_rc - joined.prior_12m_revenue_rc) / joined.prior_12m_revenue_rc
        end as revenue_growth_rate,
        case
            when joined.prior_12m_revenue_rc > 0 and joined.trailing_12m_revenue_rc
                > {{ 1 + var('growth_trend_threshold', 0.1) }} * joined.prior_12m_revenue_rc then 'growing'
            when joined.prior_12m_revenue_rc > 0 and joined.trailing_12m_revenue_rc
                < {{ 1 - var('growth_trend_threshold', 0.1) }} * joined.prior_12m_revenue_rc then 'declining'
            when joined.prior_12m_revenue_rc > 0 then 'stable'
            when joined.trailing_12m_revenue_rc > 0 then 'new'
            else 'unknown'
        end as growth_trend,
        case
            when joined.is_named_key_account then 'key account'
            when joined.revenue_rank is null then 'no revenue'
            when joined.revenue_rank <= ceil({{ key_share }} * joined.revenue_accounts) then 'key account'
            when joined.revenue_rank <= ceil(0.2 * joined.revenue_accounts) then 'high'
            when joined.revenue_rank <= ceil(0.5 * joined.revenue_accounts) then 'medium'
            else 'low'
        end as value_tier,
        joined.is_named_key_account
            or coalesce(joined.revenue_rank <= ceil({{ key_share }} * joined.revenue_accounts), false)
            as is_key_account,
        joined.sophistication_tier,
        joined.sophistication_points,
        coalesce(cells.propensity_score, global_rate.global_won_rate) as propensity_score,
        coalesce(cells.cell_trials, 0) as propensity_cell_size,
        coalesce(cells.cell_won, 0) as propensity_cell_won,
        joined.industry || ' | ' || joined.size_band || ' employees | ' || joined.region as firmographic_segment,
        coalesce(needs.dominant_need, 'unknown') as needs_segment,
        signals.contacts,
        signals.opportunities,
        signals.won_opportunities,
        first_won.first_won_at,
        joined.account_source,
        as_of.as_of_date
    from joined
    cross join as_of
    cross join global_rate
    left join motion
        on joined.account_id = motion.account_id
    left join signals
        on joined.account_id = signals.account_id
    left join open_opportunities
        on joined.account_id = open_opportunities.account_id
    left join first_won
        on joined.account_id = first_won.account_id
    left join cells
        on joined.industry = cells.industry
        and joined.size_band = cells.size_band
        and joined.region = cells.region
    left join needs
        on joined.account_id = needs.entity_id

)

select * from final
