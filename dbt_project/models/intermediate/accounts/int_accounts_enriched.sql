{#- Accounts with firmographics normalised: industry on the taxonomy (seed industry_taxonomy;
    unknown spellings → 'Other', missing → 'Unknown'), size and revenue bands (revenue in the
    reporting currency at the FX rate of the record's update date), country and region (seed
    country_regions; else the CRM region; else 'Unknown'), domain type and technographic
    sophistication (seed technology_catalog: points summed over the listed technologies;
    basic < 3 ≤ intermediate < 7 ≤ advanced; no list → 'unknown').
    An account that deals or leads name but no account export holds (or no account export
    landed at all) is kept as a row of its own: its id as name, firmographics unknown,
    account_source 'named by deals or leads'; so every B2B customer counted in the KPIs
    is an account of dim_accounts. -#}

with

exported as (

    select * from {{ ref('stg_crm__accounts') }}

),

named_only as (

    select named.account_id
    from (
        select account_id from {{ ref('stg_crm__opportunities') }}
        union
        select account_id from {{ ref('stg_crm__leads') }}
    ) as named
    left join exported
        on named.account_id = exported.account_id
    where named.account_id is not null
        and exported.account_id is null

),

accounts as (

    select
        exported.account_id,
        exported.account_name,
        exported.account_domain,
        exported.industry_text,
        exported.employees,
        exported.annual_revenue,
        exported.currency_code,
        exported.country_code,
        exported.country_text,
        exported.crm_region,
        exported.city,
        exported.customer_type_label,
        exported.parent_account_id,
        exported.technologies,
        exported.created_at,
        exported.updated_at,
        exported.source_system,
        exported.source_file_hash,
        exported.ingested_at,
        'account export' as account_source
    from exported
    union all
    select
        named_only.account_id,
        named_only.account_id as account_name,
        cast(null as {{ dbt.type_string() }}) as account_domain,
        cast(null as {{ dbt.type_string() }}) as industry_text,
        cast(null as {{ dbt.type_bigint() }}) as employees,
        cast(null as {{ dbt.type_float() }}) as annual_revenue,
        cast(null as {{ dbt.type_string() }}) as currency_code,
        cast(null as {{ dbt.type_string() }}) as country_code,
        cast(null as {{ dbt.type_string() }}) as country_text,
        cast(null as {{ dbt.type_string() }}) as crm_region,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as customer_type_label,
        cast(null as {{ dbt.type_string() }}) as parent_account_id,
        cast(null as {{ dbt.type_string() }}) as technologies,
        cast(null as {{ dbt.type_timestamp() }}) as created_at,
        cast(null as {{ dbt.type_timestamp() }}) as updated_at,
        cast(null as {{ dbt.type_string() }}) as source_system,
        cast(null as {{ dbt.type_string() }}) as source_file_hash,
        cast(null as {{ dbt.type_timestamp() }}) as ingested_at,
        'named by deals or leads' as account_source
    from named_only

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

taxonomy as (

    select * from {{ ref('industry_taxonomy') }}

),

countries as (

    select * from {{ ref('country_regions') }}

),

domains as (

    select * from {{ ref('int_domains_classified') }}

),

technologies as (

    select * from {{ ref('technology_catalog') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

tech_scores as (

    select
        accounts.account_id,
        cast(sum(technologies.sophistication_points) as bigint) as sophistication_points,
        count(*) as known_technologies
    from accounts
    inner join technologies
        on ';' || {{ segmart.regex_replace_all('accounts.technologies', "' *; *'", "';'") }} || ';'
            like '%;' || technologies.technology || ';%'
    group by accounts.account_id

),

final as (

    select
        accounts.account_id,
        accounts.account_name,
        accounts.account_domain,
        coalesce(domains.domain_type, 'unknown') as domain_type,
        accounts.industry_text,
        case
            when accounts.industry_text is null then 'Unknown'
            else coalesce(taxonomy.industry, 'Other')
        end as industry,
        accounts.employees,
        {{ segmart.size_band('accounts.employees') }} as size_band,
        accounts.annual_revenue,
        accounts.currency_code,
        accounts.annual_revenue * case
            when accounts.currency_code is null
                or accounts.currency_code = upper('{{ var("reporting_currency") }}') then 1.0
            else fx.rate_to_reporting
        end as annual_revenue_rc,
        {{ segmart.revenue_band('accounts.annual_revenue * case when accounts.currency_code is null or accounts.currency_code = upper(\'' ~ var("reporting_currency") ~ '\') then 1.0 else fx.rate_to_reporting end') }} as revenue_band,
        accounts.country_code,
        coalesce(countries.country_name, accounts.country_text) as country_name,
        coalesce(countries.region, accounts.crm_region, 'Unknown') as region,
        countries.subregion,
        accounts.city,
        accounts.customer_type_label,
        accounts.parent_account_id,
        accounts.technologies,
        tech_scores.sophistication_points,
        case
            when accounts.technologies is null then 'unknown'
            when coalesce(tech_scores.sophistication_points, 0) < 3 then 'basic'
            when tech_scores.sophistication_points < 7 then 'intermediate'
            else 'advanced'
        end as sophistication_tier,
        accounts.account_source,
        accounts.created_at,
        accounts.updated_at
    from accounts
    cross join as_of
    left join taxonomy
        on accounts.industry_text = taxonomy.industry_variant
    left join countries
        on accounts.country_code = countries.country_code
    left join domains
        on accounts.account_domain = domains.domain
    left join tech_scores
        on accounts.account_id = tech_scores.account_id
    left join fx
        on coalesce(cast(accounts.updated_at as date), as_of.as_of_date) = fx.date_day
        and accounts.currency_code = fx.currency_code

)

select * from final
