{#- What each data-driven cluster looks like: one row per entity type (account, customer),
    cluster and feature, from the profile tables the k-means assets write (source ml).
    Zero rows until the clusters have been fitted. -#}

{%- set profile_columns = {
    'entity_type': 'varchar', 'cluster_id': 'integer', 'cluster_label': 'varchar',
    'cluster_size': 'bigint', 'cluster_share': 'double', 'feature': 'varchar',
    'feature_mean': 'double', 'feature_z': 'double', 'is_fit_feature': 'boolean'} %}

with

account_profiles as (

    select * from {{ segmart.optional_source('ml', 'account_cluster_profiles', profile_columns) }} as ml_profiles

),

customer_profiles as (

    select * from {{ segmart.optional_source('ml', 'customer_cluster_profiles', profile_columns) }} as ml_profiles

),

unioned as (

    select
        'account' as entity_type, cluster_id, cluster_label, cluster_size, cluster_share,
        feature, feature_mean, feature_z, is_fit_feature
    from account_profiles
    union all
    select
        'customer' as entity_type, cluster_id, cluster_label, cluster_size, cluster_share,
        feature, feature_mean, feature_z, is_fit_feature
    from customer_profiles

)

select * from unioned
