{#- Data-driven account segments: the k-means cluster of every account, prospects included
    (source ml.account_clusters, written by the Dagster asset account_clusters from
    dim_accounts), beside the account's rule-based segments. Zero rows until the clusters
    have been fitted. -#}

with

clusters as (

    select * from {{ segmart.optional_source('ml', 'account_clusters', {
        'account_id': 'varchar', 'cluster_id': 'integer', 'cluster_label': 'varchar'}) }} as ml_clusters

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

sized as (

    select
        account_id,
        cluster_id,
        cluster_label,
        count(*) over (partition by cluster_id) as cluster_size,
        count(*) over () as clustered_accounts
    from clusters

)

select
    sized.account_id,
    accounts.account_name,
    sized.cluster_id,
    sized.cluster_label,
    sized.cluster_size,
    cast(sized.cluster_size as double) / sized.clustered_accounts as cluster_share,
    accounts.lifecycle_stage,
    accounts.lifecycle_stage <> 'customer' as is_prospect,
    accounts.firmographic_segment,
    accounts.value_tier,
    accounts.needs_segment
from sized
inner join accounts
    on sized.account_id = accounts.account_id
