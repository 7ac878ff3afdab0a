{#- Every B2C customer's profile (a resolved person with at least one purchase order up to
    the as-of date): orders, RFM, loyalty, churn risk, preferences, demographics. Guest orders
    without customer id or e-mail, and people who only returned or cancelled, are not
    customers here (their amounts stay in the order facts). The body of dim_customers before
    the Python steps: the k-means customer clusters and kpi_segment_monthly read it, and
    dim_customers adds the probabilistic CLV columns to it (tag after_ml), so the run stays
    dbt → Python → dbt without a cycle. -#}

with

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

current_scores as (

    select scored.*
    from {{ ref('int_customers_rfm_scored') }} as scored
    cross join as_of
    where scored.month_start = {{ segmart.month_start('as_of.as_of_date') }}

),

orders as (

    select orders.*
    from {{ ref('int_orders') }} as orders
    cross join as_of
    where orders.customer_key is not null
        and not orders.is_cancelled
        and orders.order_date <= as_of.as_of_date

),

lines as (

    select lines.*
    from {{ ref('int_orders_enriched') }} as lines
    inner join orders
        on lines.order_id = orders.order_id
    where orders.is_purchase

),

horizon as (

    select * from {{ ref('int_churn_horizon') }}

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

motion as (

    select * from {{ ref('int_customers_motion') }}

),

countries as (

    select * from {{ ref('country_regions') }}

),

touchpoints as (

    select * from {{ ref('int_touchpoints') }}
    where person_key is not null

),

order_stats as (

    select
        customer_key,
        max(customer_id) as customer_id,
        min(case when is_purchase then ordered_at end) as first_order_at,
        max(case when is_purchase then ordered_at end) as last_order_at,
        sum(gross_profit_rc) as gross_profit_rc,
        sum(gross_sales_rc) as gross_sales_rc,
        sum(returns_rc) as returns_rc,
        cast(sum(case when is_return_order or has_returns then 1 else 0 end) as bigint) as orders_with_returns,
        max(country_code) as order_country_code
    from orders
    group by customer_key

),

first_orders as (

    select customer_key, ordered_at, utm_channel_group
    from orders
    where customer_order_number = 1

),

channel_ranked as (

    select
        customer_key,
        sales_channel,
        row_number() over (
            partition by customer_key order by count(*) desc, sales_channel
        ) as channel_rank
    from orders
    where is_purchase and sales_channel is not null
    group by customer_key, sales_channel

),

category_ranked as (

    select
        customer_key,
        category,
        row_number() over (
            partition by customer_key order by sum(net_amount_rc) desc, category
        ) as category_rank
    from lines
    where category is not null
    group by customer_key, category

),

first_touch as (

    select
        touchpoints.person_key,
        {#- the user's first acquisition as the web export records it (GA4 traffic_source),
            else the channel of the first touchpoint seen -#}
        coalesce(touchpoints.first_user_channel_group, touchpoints.channel_group) as channel_group,
        row_number() over (
            partition by touchpoints.person_key order by touchpoints.touched_at, touchpoints.touchpoint_id
        ) as touch_rank
    from touchpoints
    inner join first_orders
        on touchpoints.person_key = first_orders.customer_key
        and touchpoints.touched_at <= first_orders.ordered_at

),

final as (

    select
        current_scores.customer_key,
        order_stats.customer_id,
        people.contact_id,
        people.account_id,
        coalesce(motion.motion, 'b2c') as motion,
        coalesce(people.email_domain_type, 'unknown') as email_domain_type,
        order_stats.first_order_at,
        order_stats.last_order_at,
        {{ segmart.month_start('order_stats.first_order_at') }} as cohort_month,
        current_scores.purchase_orders as orders,
        current_scores.net_revenue_rc as net_revenue,
        order_stats.gross_profit_rc as gross_profit,
        current_scores.net_revenue_rc / current_scores.purchase_orders as aov,
        current_scores.recency_days,
        {{ segmart.days_between('order_stats.first_order_at', 'as_of.as_of_date') }} as tenure_days,
        current_scores.r_score,
        current_scores.f_score,
        current_scores.m_score,
        current_scores.rfm_code,
        current_scores.rfm_segment,
        {{ segmart.frequency_band('current_scores.purchase_orders') }} as purchase_frequency_band,
        current_scores.purchase_orders > 1 as is_repeat_buyer,
        case
            when current_scores.purchase_orders <= 1 then 'one-time'
            when current_scores.recency_days > horizon.churn_horizon_days then 'lapsed'
            when current_scores.purchase_orders < 5 then 'returning'
            when current_scores.m_score = 5 then 'vip'
            else 'loyal'
        end as loyalty_tier,
        coalesce(channel_ranked.sales_channel, 'unknown') as preferred_sales_channel,
        coalesce(category_ranked.category, 'unknown') as preferred_category,
        coalesce(order_stats.returns_rc / nullif(order_stats.gross_sales_rc, 0), 0.0) as return_rate,
        order_stats.orders_with_returns,
        horizon.churn_horizon_days,
        current_scores.recency_days > horizon.churn_horizon_days as is_churned,
        case
            when current_scores.recency_days > horizon.churn_horizon_days then 'churned'
            when current_scores.recency_days > 0.8 * horizon.churn_horizon_days then 'high'
            when current_scores.recency_days > 0.5 * horizon.churn_horizon_days then 'medium'
            else 'low'
        end as churn_risk_band,
        case
            when people.birth_year is null then 'unknown'
            when year(as_of.as_of_date) - people.birth_year < 25 then '18-24'
            when year(as_of.as_of_date) - people.birth_year < 35 then '25-34'
            when year(as_of.as_of_date) - people.birth_year < 45 then '35-44'
            when year(as_of.as_of_date) - people.birth_year < 55 then '45-54'
            when year(as_of.as_of_date) - people.birth_year < 65 then '55-64'
            else '65+'
        end as age_band,
        coalesce(people.gender, 'unknown') as gender,
        coalesce(people.country_code, order_stats.order_country_code) as country_code,
        coalesce(countries.region, 'Unknown') as region,
        coalesce(first_touch.channel_group, first_orders.utm_channel_group, 'Unassigned') as acquisition_channel,
        as_of.as_of_date
    from current_scores
    cross join as_of
    cross join horizon
    inner join order_stats
        on current_scores.customer_key = order_stats.customer_key
    left join first_orders
        on current_scores.customer_key = first_orders.customer_key
    left join people
        on current_scores.customer_key = people.person_key
    left join motion
        on current_scores.customer_key = motion.customer_key
    left join countries
        on coalesce(people.country_code, order_stats.order_country_code) = countries.country_code
    left join channel_ranked
        on current_scores.customer_key = channel_ranked.customer_key
        and channel_ranked.channel_rank = 1
    left join category_ranked
        on current_scores.customer_key = category_ranked.customer_key
        and category_ranked.category_rank = 1
    left join first_touch
        on current_scores.customer_key = first_touch.person_key
        and first_touch.touch_rank = 1

)

select * from final
