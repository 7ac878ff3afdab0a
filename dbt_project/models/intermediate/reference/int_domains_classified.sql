{#- Every e-mail / web domain seen in accounts, contacts, leads and orders, classified as
    free-mail (seed free_mail_domains), government (seed government_domain_patterns) or
    corporate (neither). -#}

with

domains as (

    select account_domain as domain from {{ ref('stg_crm__accounts') }}
    union
    select email_domain from {{ ref('stg_crm__contacts') }}
    union
    select email_domain from {{ ref('stg_crm__leads') }}
    union
    select email_domain from {{ ref('stg_crm__orders') }}

),

free_mail as (

    select lower(trim(domain)) as domain from {{ ref('free_mail_domains') }}

),

gov_patterns as (

    select domain_pattern from {{ ref('government_domain_patterns') }}

),

gov_matches as (

    select distinct domains.domain
    from domains
    inner join gov_patterns
        on {{ segmart.regex_matches('domains.domain', 'gov_patterns.domain_pattern') }}

),

final as (

    select
        domains.domain,
        free_mail.domain is not null as is_free_mail,
        gov_matches.domain is not null as is_government,
        case
            when gov_matches.domain is not null then 'government'
            when free_mail.domain is not null then 'free_mail'
            else 'corporate'
        end as domain_type
    from domains
    left join free_mail
        on domains.domain = free_mail.domain
    left join gov_matches
        on domains.domain = gov_matches.domain
    where domains.domain is not null

)

select * from final
