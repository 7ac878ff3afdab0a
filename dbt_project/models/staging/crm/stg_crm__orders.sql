{#- A table, not a view: pii_hash needs the PII key, which only dbt's own connections hold
    (macros/portable/pii.sql); a view would need it in every reader. -#}
{{ config(materialized='table') }}

{#- Returns vs cancellations: a return line reverses money already counted (a credit note,
    a refund line; negative quantity or amount, or flagged by the mapping) and counts in
    returns and net revenue whatever status word the export gives it (Online Retail calls its
    credit notes "cancellations"). is_cancelled is only an order stopped before any money
    moved: status cancelled / canceled / voided / void on a line that is not a return. -#}

with

source as (

    select * from {{ source('crm', 'orders') }}

),

deduped as (

    {{ segmart.dedupe_latest('source', ['order_id', 'order_line_id']) }}

),

country_aliases as (

    select * from {{ ref('country_aliases') }}

),

normalized as (

    select
        deduped.*,
        {{ segmart.normalize_email('deduped.email') }} as email_normalized,
        country_aliases.country_code as country_code_normalized,
        coalesce(
            deduped.net_amount,
            deduped.quantity * deduped.unit_price - coalesce(deduped.discount_amount, 0)
        ) as net_amount_filled
    from deduped
    left join country_aliases
        on lower(trim(deduped.country)) = country_aliases.country_alias

),

flagged as (

    select
        *,
        coalesce(is_return, quantity < 0 or net_amount_filled < 0, false) as is_return_line
    from normalized

),

final as (

    select
        trim(order_id) as order_id,
        trim(order_line_id) as order_line_id,
        {{ segmart.clean_text('customer_id') }} as customer_id,
        {{ segmart.clean_text('account_id') }} as account_id,
        {{ segmart.pii_hash('email_normalized') }} as email_hash,
        {{ segmart.split_part('email_normalized', "'@'", 2) }} as email_domain,
        ordered_at,
        {{ segmart.clean_text('product_id') }} as product_id,
        {{ segmart.clean_text('product_name') }} as product_name,
        {{ segmart.clean_text('category') }} as category,
        quantity,
        unit_price,
        net_amount_filled as net_amount,
        discount_amount,
        tax_amount,
        cost_amount,
        upper(trim(currency)) as currency_code,
        lower({{ segmart.clean_text('channel') }}) as sales_channel,
        lower({{ segmart.clean_text('utm_source') }}) as utm_source,
        lower({{ segmart.clean_text('utm_medium') }}) as utm_medium,
        lower({{ segmart.clean_text('utm_campaign') }}) as utm_campaign,
        is_return_line as is_return,
        coalesce(lower(trim(status)) in ('cancelled', 'canceled', 'voided', 'void'), false)
            and not is_return_line
            and not coalesce(net_amount_filled < 0, false) as is_cancelled,
        country_code_normalized as country_code,
        lower(trim(status)) as order_status,
        updated_at,
        _source_system as source_system,
        _ingested_at as ingested_at
    from flagged

)

select * from final
