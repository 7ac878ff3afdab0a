{#- Corporate domain → account, for matching people to accounts by e-mail domain. Free-mail
    and unknown domains are excluded; when several accounts share a domain the parent-most,
    then earliest created, then smallest account_id wins. -#}

with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

domains as (

    select * from {{ ref('int_domains_classified') }}

),

ranked as (

    select
        accounts.account_domain as domain,
        accounts.account_id,
        row_number() over (
            partition by accounts.account_domain
            order by
                case when accounts.parent_account_id is null then 0 else 1 end,
                accounts.created_at nulls last,
                accounts.account_id
        ) as domain_rank
    from accounts
    inner join domains
        on accounts.account_domain = domains.domain
    where not domains.is_free_mail

)

select
    domain,
    account_id
from ranked
where domain_rank = 1
