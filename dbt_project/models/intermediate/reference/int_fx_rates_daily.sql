{{ config(materialized='table') }}

{#- Daily FX rates, forward-filled: each published rate holds until the next one. The rates
    source is the `fx_rates` seed unless var `fx_rates_relation` names another relation with
    the columns (rate_date, currency, rate_to_usd). -#}
{%- set rates_relation = var('fx_rates_relation', none) or ref('fx_rates') %}

with

rates as (

    select
        cast(rate_date as date) as rate_date,
        upper(trim(currency)) as currency_code,
        cast(rate_to_usd as double) as rate_to_usd
    from {{ rates_relation }}
    where rate_to_usd > 0

),

validity as (

    select
        currency_code,
        rate_to_usd,
        rate_date as valid_from,
        lead(rate_date) over (partition by currency_code order by rate_date) as next_rate_date
    from rates

),

spine as (

    {{ segmart.date_spine(
        '(select min(rate_date) from rates)',
        'greatest((select max(rate_date) from rates), ' ~ segmart.add_days('current_date', 366) ~ ')',
    ) }}

),

daily_to_usd as (

    select
        spine.date_day,
        validity.currency_code,
        validity.rate_to_usd
    from spine
    inner join validity
        on spine.date_day >= validity.valid_from
        and (validity.next_rate_date is null or spine.date_day < validity.next_rate_date)

),

reporting as (

    select
        date_day,
        rate_to_usd as reporting_rate_to_usd
    from daily_to_usd
    where currency_code = upper('{{ var("reporting_currency") }}')

),

final as (

    select
        daily_to_usd.date_day,
        daily_to_usd.currency_code,
        '{{ var("reporting_currency") | upper }}' as reporting_currency,
        daily_to_usd.rate_to_usd,
        daily_to_usd.rate_to_usd / reporting.reporting_rate_to_usd as rate_to_reporting
    from daily_to_usd
    inner join reporting
        on daily_to_usd.date_day = reporting.date_day

)

select * from final
