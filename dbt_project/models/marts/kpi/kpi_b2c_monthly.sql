{#- B2C KPIs per month (all purchase orders, every motion; cut by motion and segment in
    kpi_segment_monthly). Formulas (DESIGN.md):
    * net_revenue = purchases − returns of the month (cancelled orders excluded);
      AOV = net_revenue / orders (guest orders included); purchase frequency = orders of
      identified customers / active customers (guests are not customers).
    * conversion_rate = sessions with a purchase / sessions.
    * repeat_purchase_rate = active customers who had bought before the month / active.
    * churn: a customer with no purchase for more than H days (int_churn_horizon) churns on
      day last purchase + floor(H) + 1. churn_rate = customers alive at the month start
      (a purchase within H days before it) who churn during the month / those alive.
    * return_rate = returned amount / gross sales (value based).
    * blended_cac = all ad spend of the month / new customers (first purchase in the month);
      spend is not split by motion, so in a mixed B2B/B2C business read per-channel CAC in
      kpi_channel_monthly. blended_roas = purchase revenue / ad spend.
    * LTV (simple form) over the trailing 12 months: AOV × purchases per customer per year
      × gross margin × lifespan years, which reduces to identified customers' gross profit
      (net of returns) per active customer × lifespan; lifespan = 1 / (12 × pooled monthly churn rate of the trailing 12 months),
      capped at var max_customer_lifespan_years (the cap also applies without churn).
    * cac_payback_months = blended_cac / (trailing-12-month gross profit per active customer
      / 12). ltv_to_cac = ltv / blended_cac.
    * NPS over responses of respondents without a company account (respondent_type customer).
    * market_share = net revenue / market size of the month (seed market_size), when given. -#}

{%- set max_lifespan = var('max_customer_lifespan_years') %}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where not is_cancelled

),

purchases as (

    select * from orders
    where is_purchase

),

horizon as (

    select floor(churn_horizon_days) as horizon_days from {{ ref('int_churn_horizon') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

months as (

    {{ segmart.month_spine(
        '(select min(ordered_at) from orders)',
        '(select as_of_date from as_of)',
    ) }}

),

monthly_orders as (

    select
        order_month as month_start,
        sum(case when is_purchase then 1 else 0 end) as orders,
        sum(case when is_purchase and customer_key is not null then 1 else 0 end) as customer_orders,
        count(distinct case when is_purchase then customer_key end) as active_customers,
        count(distinct case when is_purchase and customer_order_number = 1 then customer_key end)
            as new_customers,
        count(distinct case when is_purchase and customer_order_number > 1 then customer_key end)
            as returning_customers,
        sum(net_revenue) as net_revenue,
        sum(case when is_purchase then net_revenue else 0 end) as purchase_revenue,
        sum(gross_sales) as gross_sales,
        sum(returns_amount) as returns_amount,
        sum(gross_profit) as gross_profit,
        sum(case when is_return_order or has_returns then 1 else 0 end) as orders_with_returns
    from orders
    group by order_month

),

purchases_window as (

    select
        months.month_start,
        count(distinct purchases.customer_key) as active_customers_t12,
        count(purchases.order_id) as orders_t12
    from months
    inner join purchases
        on purchases.customer_key is not null
        and purchases.order_month <= months.month_start
        and purchases.order_month > {{ segmart.add_months('months.month_start', -12) }}
    group by months.month_start

),

profit_window as (

    {#- identified customers' gross profit of the trailing 12 months, net of returns -#}
    select
        months.month_start,
        sum(orders.gross_profit) as gross_profit_t12,
        sum(orders.net_revenue) as net_revenue_t12
    from months
    inner join orders
        on orders.customer_key is not null
        and orders.order_month <= months.month_start
        and orders.order_month > {{ segmart.add_months('months.month_start', -12) }}
    group by months.month_start

),

purchase_gaps as (

    select
        customer_key,
        order_date,
        lead(order_date) over (
            partition by customer_key order by ordered_at, order_id
        ) as next_order_date
    from purchases
    where customer_key is not null

),

churn_events as (

    select
        purchase_gaps.customer_key,
        purchase_gaps.order_date as last_order_date,
        {{ segmart.add_days('purchase_gaps.order_date', 'horizon.horizon_days + 1') }} as churned_on
    from purchase_gaps
    cross join horizon
    where purchase_gaps.next_order_date is null
        or {{ segmart.days_between('purchase_gaps.order_date', 'purchase_gaps.next_order_date') }}
            > horizon.horizon_days

),

alive_at_start as (

    select
        months.month_start,
        count(distinct purchase_gaps.customer_key) as customers_alive_at_start
    from months
    cross join horizon
    inner join purchase_gaps
        on purchase_gaps.order_date < months.month_start
        and {{ segmart.days_between('purchase_gaps.order_date', 'months.month_start') }}
            <= horizon.horizon_days
    group by months.month_start

),

churned as (

    select
        months.month_start,
        count(distinct churn_events.customer_key) as churned_customers
    from months
    cross join as_of
    inner join churn_events
        on churn_events.churned_on >= months.month_start
        and churn_events.churned_on < {{ segmart.add_months('months.month_start', 1) }}
        and churn_events.last_order_date < months.month_start
        and churn_events.churned_on <= as_of.as_of_date
    group by months.month_start

),

churn_window as (

    select
        months.month_start,
        sum(coalesce(churned.churned_customers, 0)) as churned_t12,
        sum(coalesce(alive_at_start.customers_alive_at_start, 0)) as alive_t12
    from months
    inner join months as window_months
        on window_months.month_start <= months.month_start
        and window_months.month_start > {{ segmart.add_months('months.month_start', -12) }}
    left join churned
        on window_months.month_start = churned.month_start
    left join alive_at_start
        on window_months.month_start = alive_at_start.month_start
    group by months.month_start

),

sessions as (

    select
        session_month as month_start,
        count(*) as sessions,
        sum(case when has_purchase then 1 else 0 end) as purchase_sessions
    from {{ ref('fct_sessions') }}
    group by session_month

),

spend as (

    select
        spend_month as month_start,
        sum(spend) as spend
    from {{ ref('fct_ad_spend_daily') }}
    group by spend_month

),

nps as (

    select
        response_month as month_start,
        count(*) as nps_responses,
        {{ segmart.nps() }} as nps
    from {{ ref('fct_nps_responses') }}
    where respondent_type = 'customer'
    group by response_month

),

market as (

    select
        cast(month_start as date) as month_start,
        sum(market_size) as market_size
    from {{ ref('market_size') }}
    group by cast(month_start as date)

),

joined as (

    select
        months.month_start,
        cast(coalesce(monthly_orders.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(monthly_orders.active_customers, 0) as bigint) as active_customers,
        cast(coalesce(monthly_orders.returning_customers, 0) as bigint) as returning_customers,
        cast(coalesce(monthly_orders.orders, 0) as bigint) as orders,
        cast(coalesce(monthly_orders.customer_orders, 0) as bigint) as customer_orders,
        cast(coalesce(monthly_orders.orders_with_returns, 0) as bigint) as orders_with_returns,
        cast(coalesce(monthly_orders.gross_sales, 0) as double) as gross_sales,
        cast(coalesce(monthly_orders.returns_amount, 0) as double) as returns_amount,
        cast(coalesce(monthly_orders.net_revenue, 0) as double) as net_revenue,
        cast(coalesce(monthly_orders.purchase_revenue, 0) as double) as purchase_revenue,
        cast(coalesce(monthly_orders.gross_profit, 0) as double) as gross_profit,
        cast(coalesce(sessions.sessions, 0) as bigint) as sessions,
        cast(coalesce(sessions.purchase_sessions, 0) as bigint) as purchase_sessions,
        cast(coalesce(alive_at_start.customers_alive_at_start, 0) as bigint) as customers_alive_at_start,
        cast(coalesce(churned.churned_customers, 0) as bigint) as churned_customers,
        cast(coalesce(spend.spend, 0) as double) as spend,
        cast(coalesce(purchases_window.active_customers_t12, 0) as bigint) as active_customers_t12,
        cast(coalesce(purchases_window.orders_t12, 0) as bigint) as orders_t12,
        cast(coalesce(profit_window.net_revenue_t12, 0) as double) as net_revenue_t12,
        cast(coalesce(profit_window.gross_profit_t12, 0) as double) as gross_profit_t12,
        {{ segmart.safe_divide('churn_window.churned_t12', 'churn_window.alive_t12') }}
            as monthly_churn_rate_t12,
        cast(coalesce(nps.nps_responses, 0) as bigint) as nps_responses,
        nps.nps,
        market.market_size
    from months
    left join monthly_orders on months.month_start = monthly_orders.month_start
    left join purchases_window on months.month_start = purchases_window.month_start
    left join profit_window on months.month_start = profit_window.month_start
    left join alive_at_start on months.month_start = alive_at_start.month_start
    left join churned on months.month_start = churned.month_start
    left join churn_window on months.month_start = churn_window.month_start
    left join sessions on months.month_start = sessions.month_start
    left join spend on months.month_start = spend.month_start
    left join nps on months.month_start = nps.month_start
    left join market on months.month_start = market.month_start

),

ratios as (

    select
        *,
        {{ segmart.safe_divide('net_revenue', 'orders') }} as aov,
        {{ segmart.safe_divide('customer_orders', 'active_customers') }} as purchase_frequency,
        {{ segmart.safe_divide('purchase_sessions', 'sessions') }} as conversion_rate,
        {{ segmart.safe_divide('returning_customers', 'active_customers') }} as repeat_purchase_rate,
        {{ segmart.safe_divide('churned_customers', 'customers_alive_at_start') }} as churn_rate,
        {{ segmart.safe_divide('returns_amount', 'gross_sales') }} as return_rate,
        {{ segmart.safe_divide('gross_profit', 'net_revenue') }} as gross_margin,
        {{ segmart.spend_ratio('spend', 'new_customers', 'spend') }} as blended_cac,
        {{ segmart.spend_ratio('purchase_revenue', 'spend', 'spend') }} as blended_roas,
        {{ segmart.safe_divide('gross_profit_t12', 'active_customers_t12') }} as gross_profit_per_customer_t12,
        case
            when monthly_churn_rate_t12 > 0
                then least(1.0 / (12.0 * monthly_churn_rate_t12), {{ max_lifespan }})
            when active_customers_t12 > 0 then {{ max_lifespan }}
        end as customer_lifespan_years,
        {{ segmart.safe_divide('net_revenue', 'market_size') }} as market_share
    from joined

),

final as (

    select
        *,
        gross_profit_per_customer_t12 * customer_lifespan_years as ltv,
        {{ segmart.safe_divide('blended_cac', 'gross_profit_per_customer_t12 / 12.0') }}
            as cac_payback_months,
        {{ segmart.safe_divide('gross_profit_per_customer_t12 * customer_lifespan_years', 'blended_cac') }}
            as ltv_to_cac
    from ratios

)

select * from final
