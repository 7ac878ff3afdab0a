{#- The churn horizon in days (one row): var('churn_horizon_days') when set, else the
    var('churn_horizon_quantile') quantile (linear interpolation) of the inter-purchase times
    of all customers: days between each purchase order and the same customer's previous one.
    Falls back to 365 days when no customer has bought twice. -#}

with

purchases as (

    select
        customer_key,
        order_date,
        lag(order_date) over (partition by customer_key order by ordered_at, order_id) as previous_order_date
    from {{ ref('int_orders') }}
    where is_purchase and customer_key is not null

),

gaps as (

    select {{ segmart.days_between('previous_order_date', 'order_date') }} as gap_days
    from purchases
    where previous_order_date is not null

),

final as (

    select
        {% if var('churn_horizon_days', none) is not none -%}
        cast({{ var('churn_horizon_days') }} as double) as churn_horizon_days,
        'configured' as churn_horizon_basis,
        {%- else -%}
        coalesce(cast({{ segmart.quantile_cont('gap_days', var('churn_horizon_quantile')) }} as double), 365.0)
            as churn_horizon_days,
        'p{{ (var("churn_horizon_quantile") * 100) | round | int }} inter-purchase days' as churn_horizon_basis,
        {%- endif %}
        count(gap_days) as inter_purchase_intervals
    from gaps

)

select * from final
