{{ config(materialized='table') }}

{#- RFM scores per customer and monthly snapshot. Each score is a quintile (1-5) among the
    customers who had purchased by that snapshot: rank-based, ties share the score of their
    lowest rank (so equal values always score the same), 5 = best:
      r_score: more recent last purchase (lower recency_days) scores higher;
      f_score: more purchase orders scores higher;
      m_score: more net revenue scores higher.
    rfm_segment comes from seed rfm_segment_map over (r_score, f_score). -#}

with

state as (

    select * from {{ ref('int_customers_monthly_state') }}

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
        {{ segmart.ntile_with_ties(5, 'recency_days desc', 'month_start') }} as r_score,
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
