{#- Keep the latest version of each natural key: latest _ingested_at, then latest
    updated_at (when the entity has one), then the highest _file_hash and _source_row.
    `relation` is a CTE/relation name; `key_columns` a list of column names. -#}
{% macro dedupe_latest(relation, key_columns, updated_column='updated_at') -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by
                    _ingested_at desc nulls last,
                    {% if updated_column %}{{ updated_column }} desc nulls last,{% endif %}
                    _file_hash desc nulls last,
                    _source_row desc nulls last
            ) as _version_rank
        from {{ relation }}
    ) as versions
    where _version_rank = 1
{%- endmacro %}
