{{ config(materialized='table') }}

{#- RFM scores per customer and monthly snapshot, among the customers who had purchased by
    that snapshot: rank-based, ties share the score of their lowest rank (so equal values
    always score the same), 5 = best:
      r_score respects the churn horizon (int_churn_horizon): a churned customer (recency
        above the horizon) scores 1; the others score 2-5, the quartile of their recency
        among the customers not churned at that snapshot (more recent scores higher). A
        single decaying cohort, where most customers are long gone, so never fills the
        top recency scores with churned customers;
      f_score: quintile 1-5, more purchase orders scores higher;
      m_score: quintile 1-5, more net revenue scores higher.
    rfm_segment comes from seed rfm_segment_map over (r_score, f_score); r_score 1 maps only
    to lost / hibernating / at risk / can't lose, so a churned customer is never in an
    active segment (champions, loyal, potential loyalist, new, promising, need attention,
    about to sleep). -#}

with

horizon as (

    select churn_horizon_days from {{ ref('int_churn_horizon') }}

),

state as (

    select
        monthly_state.*,
        monthly_state.recency_days > horizon.churn_horizon_days as is_churned
    from {{ ref('int_customers_monthly_state') }} as monthly_state
    cross join horizon

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

scored as (

    select
        customer_key,
        month_start,
        snapshot_date,
        purchase_orders,
        net_revenue_rc,
        last_purchase_date,
        recency_days,
        is_churned,
        case
            when is_churned then 1
            else 1 + {{ segmart.ntile_with_ties(4, 'recency_days desc', 'month_start, is_churned') }}
        end as r_score,
        {{ segmart.ntile_with_ties(5, 'purchase_orders', 'month_start') }} as f_score,
        {{ segmart.ntile_with_ties(5, 'net_revenue_rc', 'month_start') }} as m_score
    from state

),

final as (

    select
        scored.*,
        cast(scored.r_score as {{ dbt.type_string() }})
            || cast(scored.f_score as {{ dbt.type_string() }})
            || cast(scored.m_score as {{ dbt.type_string() }}) as rfm_code,
        coalesce(segment_map.rfm_segment, 'unmapped') as rfm_segment
    from scored
    left join segment_map
        on scored.r_score = segment_map.r_score
        and scored.f_score = segment_map.f_score

)

select * from final
