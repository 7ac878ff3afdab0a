{#- Data-driven customer segments: the k-means cluster of every B2C customer (source
    ml.customer_clusters, written by the Dagster asset customer_clusters from dim_customers),
    beside the customer's rule-based segments. Zero rows until the clusters have been
    fitted. -#}

with

clusters as (

    select * from {{ segmart.optional_source('ml', 'customer_clusters', {
        'customer_key': 'varchar', 'cluster_id': 'integer', 'cluster_label': 'varchar'}) }} as ml_clusters

),

customers as (

    select * from {{ ref('dim_customers') }}

),

sized as (

    select
        customer_key,
        cluster_id,
        cluster_label,
        count(*) over (partition by cluster_id) as cluster_size,
        count(*) over () as clustered_customers
    from clusters

)

select
    sized.customer_key,
    sized.cluster_id,
    sized.cluster_label,
    sized.cluster_size,
    cast(sized.cluster_size as double) / sized.clustered_customers as cluster_share,
    customers.rfm_segment,
    customers.loyalty_tier,
    customers.churn_risk_band
from sized
inner join customers
    on sized.customer_key = customers.customer_key
