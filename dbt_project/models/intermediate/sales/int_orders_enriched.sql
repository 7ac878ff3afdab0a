{#- Order lines (int_order_lines_converted: reporting currency, gross profit, UTM channel)
    with their customer: customer_key is the resolved person of the customer_id, else of the
    order e-mail; null for guest orders without either (those stay in revenue facts but not
    in customer marts). A table rebuilt on every run, so a person resolved from later data
    reaches old orders too. -#}

with

lines as (

    select * from {{ ref('int_order_lines_converted') }}

),

identity as (

    select * from {{ ref('int_identity') }}

),

final as (

    select
        lines.order_id,
        lines.order_line_id,
        lines.order_line_key,
        coalesce(by_customer.person_key, by_email.person_key) as customer_key,
        lines.customer_id,
        lines.account_id,
        lines.email_domain,
        lines.ordered_at,
        lines.order_date,
        lines.product_id,
        lines.product_name,
        lines.category,
        lines.quantity,
        lines.unit_price,
        lines.currency_code,
        lines.fx_rate,
        lines.net_amount,
        lines.net_amount_rc,
        lines.discount_amount_rc,
        lines.tax_amount_rc,
        lines.cost_amount_rc,
        lines.has_known_cost,
        lines.gross_profit_rc,
        lines.sales_channel,
        lines.utm_source,
        lines.utm_medium,
        lines.utm_campaign,
        lines.utm_channel_group,
        lines.is_return,
        lines.is_cancelled,
        lines.country_code,
        lines.order_status
    from lines
    left join identity as by_customer
        on by_customer.identifier_type = 'customer_id'
        and lines.customer_id = by_customer.identifier_value
    left join identity as by_email
        on by_email.identifier_type = 'email_hash'
        and lines.email_hash = by_email.identifier_value

)

select * from final
