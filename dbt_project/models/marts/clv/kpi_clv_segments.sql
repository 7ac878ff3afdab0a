{#- Predicted CLV beside the formula LTV, per customer segment, at the as-of date. For each
    segment (segment_type all / rfm_segment / loyalty_tier / clv_tier / motion /
    acquisition_channel, long form): the customers' mean predicted 12-month CLV
    (dim_customers, BG/NBD + Gamma-Gamma, over the customers with a prediction) and the
    formula of kpi_b2c_monthly applied to the same segment: trailing-12-month gross profit
    per customer (orders of fct_orders in the 365 days up to the as-of date, returns netted,
    cancelled orders excluded) × the blended customer lifespan of kpi_b2c_monthly in the
    as-of month = formula_ltv. The 12-month sides (predicted_clv_12m_avg against
    formula_value_12m_avg) compare like with like: the next 12 months predicted, the last
    12 months realised. -#}

{%- set segment_types = ['rfm_segment', 'loyalty_tier', 'clv_tier', 'motion', 'acquisition_channel'] %}

with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

b2c as (

    select kpi.customer_lifespan_years, kpi.ltv
    from {{ ref('kpi_b2c_monthly') }} as kpi
    cross join as_of
    where kpi.month_start = {{ segmart.month_start('as_of.as_of_date') }}

),

trailing_profit as (

    select
        orders.customer_key,
        sum(orders.gross_profit) as gross_profit_t12
    from {{ ref('fct_orders') }} as orders
    cross join as_of
    where orders.customer_key is not null
        and not orders.is_cancelled
        and orders.order_date > {{ segmart.add_days('as_of.as_of_date', -365) }}
        and orders.order_date <= as_of.as_of_date
    group by orders.customer_key

),

per_customer as (

    select
        customers.*,
        coalesce(trailing_profit.gross_profit_t12, 0) as gross_profit_t12
    from customers
    left join trailing_profit
        on customers.customer_key = trailing_profit.customer_key

),

segments as (

    select
        'all' as segment_type,
        'all customers' as segment_value,
        customer_key, probability_alive, expected_purchases_365d, predicted_clv_12m,
        gross_profit_t12
    from per_customer
    {% for segment_type in segment_types %}
    union all
    select
        '{{ segment_type }}',
        coalesce(cast({{ segment_type }} as {{ dbt.type_string() }}), 'none'),
        customer_key, probability_alive, expected_purchases_365d, predicted_clv_12m,
        gross_profit_t12
    from per_customer
    {% endfor %}

),

aggregated as (

    select
        segment_type,
        segment_value,
        count(*) as customers,
        count(predicted_clv_12m) as predicted_customers,
        avg(probability_alive) as probability_alive_avg,
        sum(expected_purchases_365d) as expected_purchases_365d,
        sum(predicted_clv_12m) as predicted_clv_12m_total,
        avg(predicted_clv_12m) as predicted_clv_12m_avg,
        avg(gross_profit_t12) as formula_value_12m_avg
    from segments
    group by segment_type, segment_value

),

final as (

    select
        aggregated.segment_type || '|' || aggregated.segment_value as clv_segment_key,
        aggregated.segment_type,
        aggregated.segment_value,
        as_of.as_of_date,
        cast(aggregated.customers as bigint) as customers,
        cast(aggregated.predicted_customers as bigint) as predicted_customers,
        cast(aggregated.probability_alive_avg as double) as probability_alive_avg,
        cast(aggregated.expected_purchases_365d as double) as expected_purchases_365d,
        cast(aggregated.predicted_clv_12m_total as double) as predicted_clv_12m_total,
        cast(aggregated.predicted_clv_12m_avg as double) as predicted_clv_12m_avg,
        cast(aggregated.formula_value_12m_avg as double) as formula_value_12m_avg,
        cast(b2c.customer_lifespan_years as double) as customer_lifespan_years,
        cast(aggregated.formula_value_12m_avg * b2c.customer_lifespan_years as double) as formula_ltv,
        cast(b2c.ltv as double) as b2c_formula_ltv,
        {{ segmart.safe_divide('aggregated.predicted_clv_12m_avg', 'aggregated.formula_value_12m_avg') }}
            as predicted_to_formula_12m
    from aggregated
    cross join as_of
    left join b2c
        on 1 = 1

)

select * from final
