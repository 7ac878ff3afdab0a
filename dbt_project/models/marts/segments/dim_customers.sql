{#- One row per B2C customer (a resolved person with at least one purchase order up to the
    as-of date): the profile of int_customers_profiled plus the probabilistic CLV of the
    Dagster asset customer_clv (source ml.customer_clv, pipelines/clv: BG/NBD + Gamma-Gamma
    fitted between the dbt models). Built after the Python steps (tag after_ml); before the
    first fit, and for customers the fit gives no number, the CLV columns are null and
    clv_status says why. -#}

with

profiles as (

    select * from {{ ref('int_customers_profiled') }}

),

clv as (

    select * from {{ segmart.optional_source('ml', 'customer_clv', {
        'customer_key': 'varchar', 'clv_status': 'varchar', 'repeat_purchases': 'integer',
        'recency_weeks': 'double', 'tenure_weeks': 'double', 'probability_alive': 'double',
        'expected_purchases_90d': 'double', 'expected_purchases_365d': 'double',
        'expected_aov': 'double', 'predicted_clv_12m': 'double', 'clv_tier': 'varchar'}) }} as ml_clv

),

final as (

    select
        profiles.*,
        coalesce(clv.clv_status, 'not_fitted') as clv_status,
        clv.probability_alive,
        clv.expected_purchases_90d,
        clv.expected_purchases_365d,
        clv.expected_aov,
        clv.predicted_clv_12m,
        clv.clv_tier
    from profiles
    left join clv
        on profiles.customer_key = clv.customer_key

)

select * from final
