{#- The evidence the customer motion rule weighs, one row per customer (resolved person with
    orders): e-mail domain type, the account attached (CRM link or corporate domain) and that
    account's motion, and typical order value. -#}

with

orders as (

    select * from {{ ref('int_orders') }}

),

people as (

    select * from {{ ref('int_people_resolved') }}

),

account_motion as (

    select * from {{ ref('int_accounts_motion') }}

),

customer_orders as (

    select
        customer_key,
        max(customer_id) as customer_id,
        max(account_id) as order_account_id,
        {{ segmart.median('case when is_purchase then net_amount_rc end') }} as median_order_value_rc
    from orders
    where customer_key is not null
    group by customer_key

),

final as (

    select
        customer_orders.customer_key,
        customer_orders.customer_id,
        coalesce(customer_orders.order_account_id, people.account_id) as account_id,
        coalesce(people.email_domain_type, 'unknown') as email_domain_type,
        account_motion.motion as account_motion,
        customer_orders.median_order_value_rc
    from customer_orders
    left join people
        on customer_orders.customer_key = people.person_key
    left join account_motion
        on coalesce(customer_orders.order_account_id, people.account_id) = account_motion.account_id

)

select * from final
