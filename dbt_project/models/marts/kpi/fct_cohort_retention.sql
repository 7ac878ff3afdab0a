{#- Cohort retention: one row per acquisition cohort (month of the customer's first purchase)
    and months since acquisition (0 = the acquisition month), from the cohort month to the
    as-of month. Retained customers = cohort customers with a purchase in that month;
    revenue = their net revenue of the month (purchases − returns, cancelled excluded).
    Cumulative revenue per cohort customer is the cohort's realised LTV to date. -#}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled and customer_key is not null

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

cohorts as (

    select
        customer_key,
        min(case when is_purchase then order_month end) as cohort_month
    from orders
    group by customer_key
    having max(case when is_purchase then 1 else 0 end) = 1

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_customers
    from cohorts
    group by cohort_month

),

months as (

    {{ segmart.month_spine(
        '(select min(cohort_month) from cohorts)',
        '(select as_of_date from as_of)',
    ) }}

),

grid as (

    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_customers,
        months.month_start,
        {{ segmart.months_between_starts('cohort_sizes.cohort_month', 'months.month_start') }}
            as months_since_acquisition
    from cohort_sizes
    inner join months
        on months.month_start >= cohort_sizes.cohort_month

),

activity as (

    select
        cohorts.cohort_month,
        orders.order_month as month_start,
        count(distinct case when orders.is_purchase then orders.customer_key end)
            as retained_customers,
        sum(case when orders.is_purchase then 1 else 0 end) as orders,
        sum(orders.net_revenue) as net_revenue,
        sum(orders.gross_profit) as gross_profit
    from orders
    inner join cohorts
        on orders.customer_key = cohorts.customer_key
    where orders.order_month >= cohorts.cohort_month
    group by cohorts.cohort_month, orders.order_month

),

joined as (

    select
        grid.cohort_month,
        grid.month_start,
        cast(grid.months_since_acquisition as bigint) as months_since_acquisition,
        cast(grid.cohort_customers as bigint) as cohort_customers,
        cast(coalesce(activity.retained_customers, 0) as bigint) as retained_customers,
        cast(coalesce(activity.orders, 0) as bigint) as orders,
        cast(coalesce(activity.net_revenue, 0) as double) as net_revenue,
        cast(coalesce(activity.gross_profit, 0) as double) as gross_profit
    from grid
    left join activity
        on grid.cohort_month = activity.cohort_month
        and grid.month_start = activity.month_start

),

final as (

    select
        cast(cohort_month as {{ dbt.type_string() }}) || '|'
            || cast(months_since_acquisition as {{ dbt.type_string() }}) as cohort_period_key,
        *,
        {{ segmart.safe_divide('retained_customers', 'cohort_customers') }} as retention_rate,
        sum(net_revenue) over (
            partition by cohort_month order by months_since_acquisition
            rows between unbounded preceding and current row
        ) as cumulative_net_revenue,
        {{ segmart.safe_divide(
            'sum(net_revenue) over (partition by cohort_month order by months_since_acquisition'
            ~ ' rows between unbounded preceding and current row)',
            'cohort_customers',
        ) }} as realised_ltv,
        {{ segmart.safe_divide(
            'sum(gross_profit) over (partition by cohort_month order by months_since_acquisition'
            ~ ' rows between unbounded preceding and current row)',
            'cohort_customers',
        ) }} as realised_gross_profit_per_customer
    from joined

)

select * from final
