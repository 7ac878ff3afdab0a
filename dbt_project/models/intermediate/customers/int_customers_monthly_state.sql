{{ config(materialized='table') }}

{#- Each customer's purchase state at the end of every month from their first purchase to
    the as-of month (the last snapshot is taken on the as-of date itself): purchase orders,
    net revenue (purchases minus returns; cancelled orders excluded) and recency to date.
    Returns before the first purchase (of items bought before the data starts) count in net
    revenue. The input of RFM scoring, for the current segments and for their history. -#}

with

orders as (

    select * from {{ ref('int_orders') }}
    where customer_key is not null and not is_cancelled

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

months as (

    select cast(date_day as date) as month_start
    from ({{ segmart.date_spine(
        '(select ' ~ segmart.month_start('min(ordered_at)') ~ ' from orders)',
        '(select as_of_date from as_of)',
    ) }}) as days
    where extract(day from date_day) = 1

),

customers as (

    select
        customer_key,
        {{ segmart.month_start('min(ordered_at)') }} as first_order_month
    from orders
    group by customer_key
    having max(case when is_purchase then 1 else 0 end) = 1

),

monthly_orders as (

    select
        orders.customer_key,
        {{ segmart.month_start('orders.ordered_at') }} as month_start,
        sum(case when orders.is_purchase then 1 else 0 end) as purchase_orders,
        sum(orders.net_amount_rc) as net_revenue_rc,
        max(case when orders.is_purchase then orders.order_date end) as last_purchase_date
    from orders
    cross join as_of
    where orders.order_date <= as_of.as_of_date
    group by orders.customer_key, {{ segmart.month_start('orders.ordered_at') }}

),

grid as (

    select
        customers.customer_key,
        months.month_start,
        least(
            {{ segmart.add_days(segmart.add_months('months.month_start', 1), -1) }},
            as_of.as_of_date
        ) as snapshot_date
    from customers
    inner join months
        on months.month_start >= customers.first_order_month
    cross join as_of

),

cumulative as (

    select
        grid.customer_key,
        grid.month_start,
        grid.snapshot_date,
        sum(coalesce(monthly_orders.purchase_orders, 0)) over (
            partition by grid.customer_key order by grid.month_start
            rows between unbounded preceding and current row
        ) as purchase_orders,
        sum(coalesce(monthly_orders.net_revenue_rc, 0)) over (
            partition by grid.customer_key order by grid.month_start
            rows between unbounded preceding and current row
        ) as net_revenue_rc,
        max(monthly_orders.last_purchase_date) over (
            partition by grid.customer_key order by grid.month_start
            rows between unbounded preceding and current row
        ) as last_purchase_date
    from grid
    left join monthly_orders
        on grid.customer_key = monthly_orders.customer_key
        and grid.month_start = monthly_orders.month_start

),

final as (

    select
        customer_key,
        month_start,
        snapshot_date,
        cast(purchase_orders as bigint) as purchase_orders,
        round(net_revenue_rc, 6) as net_revenue_rc,
        last_purchase_date,
        {{ segmart.days_between('last_purchase_date', 'snapshot_date') }} as recency_days
    from cumulative
    where purchase_orders > 0

)

select * from final
