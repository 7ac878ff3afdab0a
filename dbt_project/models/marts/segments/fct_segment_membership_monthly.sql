{#- Segment membership history: for every month (evaluated at month end, the current month
    at the as-of date), entity and segment type, the segment the entity was in and the one
    it was in the month before, so movements are visible ("who became at risk this month":
    segment_type = 'rfm_segment', segment_value = 'at risk', is_changed).
      customers (from their first purchase): rfm_segment, churn_status (active / churned by
        the current churn horizon);
      accounts, prospects included (from creation or first activity): lifecycle_stage
        (prospect / opportunity / customer) and value_tier (same rule as dim_accounts, on the
        trailing 12 months ending that month). -#}

{%- set key_share = var('key_account_revenue_share') %}
{%- set key_ids = var('key_account_ids') %}

with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

customer_scores as (

    select * from {{ ref('int_customers_rfm_scored') }}

),

horizon as (

    select * from {{ ref('int_churn_horizon') }}

),

accounts as (

    select * from {{ ref('int_accounts_enriched') }}

),

revenue_monthly as (

    select * from {{ ref('int_account_revenue_monthly') }}

),

opportunities as (

    select * from {{ ref('int_opportunities_enriched') }}
    where account_id is not null

),

activity_events as (

    select
        account_id,
        {{ segmart.month_start('created_at') }} as month_start,
        1 as opened,
        0 as closed,
        0 as won,
        0.0 as revenue_rc,
        0.0 as order_revenue_rc
    from opportunities
    where created_at is not null
    union all
    select
        account_id,
        {{ segmart.month_start('closed_at') }},
        0,
        1,
        case when is_won then 1 else 0 end,
        0.0,
        0.0
    from opportunities
    where is_closed and closed_at is not null
    union all
    select account_id, month_start, 0, 0, 0, revenue_rc, order_revenue_rc
    from revenue_monthly

),

activity_monthly as (

    select
        account_id,
        month_start,
        sum(opened) as opened,
        sum(closed) as closed,
        sum(won) as won,
        sum(revenue_rc) as revenue_rc,
        sum(order_revenue_rc) as order_revenue_rc
    from activity_events
    group by account_id, month_start

),

account_starts as (

    select
        accounts.account_id,
        least(
            coalesce({{ segmart.month_start('accounts.created_at') }}, min(activity_monthly.month_start)),
            coalesce(min(activity_monthly.month_start), {{ segmart.month_start('accounts.created_at') }})
        ) as start_month
    from accounts
    left join activity_monthly
        on accounts.account_id = activity_monthly.account_id
    group by accounts.account_id, accounts.created_at

),

months as (

    select cast(date_day as date) as month_start
    from ({{ segmart.date_spine(
        '(select min(start_month) from account_starts)',
        '(select as_of_date from as_of)',
    ) }}) as days
    where extract(day from date_day) = 1

),

account_grid as (

    select
        account_starts.account_id,
        months.month_start
    from account_starts
    cross join as_of
    inner join months
        on months.month_start >= coalesce(account_starts.start_month, {{ segmart.month_start('as_of.as_of_date') }})

),

account_state as (

    select
        account_grid.account_id,
        account_grid.month_start,
        sum(coalesce(activity_monthly.opened, 0) - coalesce(activity_monthly.closed, 0)) over w_to_date
            as open_opportunities,
        sum(coalesce(activity_monthly.won, 0)) over w_to_date as won_to_date,
        sum(coalesce(activity_monthly.order_revenue_rc, 0)) over w_to_date as order_revenue_to_date,
        sum(coalesce(activity_monthly.revenue_rc, 0)) over (
            partition by account_grid.account_id order by account_grid.month_start
            rows between 11 preceding and current row
        ) as trailing_12m_revenue_rc
    from account_grid
    left join activity_monthly
        on account_grid.account_id = activity_monthly.account_id
        and account_grid.month_start = activity_monthly.month_start
    window w_to_date as (
        partition by account_grid.account_id order by account_grid.month_start
        rows between unbounded preceding and current row
    )

),

account_ranked as (

    select
        account_state.*,
        case when trailing_12m_revenue_rc > 0 then
            row_number() over (
                partition by month_start, case when trailing_12m_revenue_rc > 0 then 1 else 0 end
                order by trailing_12m_revenue_rc desc, account_id
            )
        end as revenue_rank,
        sum(case when trailing_12m_revenue_rc > 0 then 1 else 0 end) over (partition by month_start)
            as revenue_accounts
    from account_state

),

account_segments as (

    select
        month_start,
        'account' as entity_type,
        account_id as entity_id,
        'lifecycle_stage' as segment_type,
        case
            when won_to_date > 0 or order_revenue_to_date > 0 then 'customer'
            when open_opportunities > 0 then 'opportunity'
            else 'prospect'
        end as segment_value
    from account_ranked
    union all
    select
        month_start,
        'account',
        account_id,
        'value_tier',
        case
            {% if key_ids | length > 0 -%}
            when account_id in ('{{ key_ids | join("', '") }}') then 'key account'
            {% endif -%}
            when revenue_rank is null then 'no revenue'
            when revenue_rank <= ceil({{ key_share }} * revenue_accounts) then 'key account'
            when revenue_rank <= ceil(0.2 * revenue_accounts) then 'high'
            when revenue_rank <= ceil(0.5 * revenue_accounts) then 'medium'
            else 'low'
        end
    from account_ranked

),

customer_segments as (

    select
        month_start,
        'customer' as entity_type,
        customer_key as entity_id,
        'rfm_segment' as segment_type,
        rfm_segment as segment_value
    from customer_scores
    union all
    select
        customer_scores.month_start,
        'customer',
        customer_scores.customer_key,
        'churn_status',
        case when customer_scores.recency_days > horizon.churn_horizon_days then 'churned' else 'active' end
    from customer_scores
    cross join horizon

),

unioned as (

    select * from account_segments
    union all
    select * from customer_segments

),

final as (

    select
        unioned.month_start,
        least({{ segmart.add_days(segmart.add_months('unioned.month_start', 1), -1) }}, as_of.as_of_date)
            as snapshot_date,
        unioned.entity_type,
        unioned.entity_id,
        unioned.segment_type,
        unioned.segment_value,
        lag(unioned.segment_value) over (
            partition by unioned.entity_type, unioned.entity_id, unioned.segment_type
            order by unioned.month_start
        ) as previous_segment_value
    from unioned
    cross join as_of

)

select
    month_start,
    snapshot_date,
    entity_type,
    entity_id,
    segment_type,
    segment_value,
    previous_segment_value,
    previous_segment_value is null or previous_segment_value <> segment_value as is_changed
from final
