{#- Keyed hash of a personal-data value (e-mail, phone) so it can be joined on but not read.

    HMAC-SHA-256 (RFC 2104) as lowercase hex, built from each engine's own SHA-256:
        sha256(opad || unhex(sha256(ipad || utf8(value))))
    where ipad / opad are the key zero-padded to 64 bytes XOR 0x36 / 0x5c (a key longer than
    64 bytes is SHA-256'd first). Equal to Python's hmac.new(key, value, sha256).hexdigest()
    on DuckDB and Spark (tests/privacy, tests/spark).

    The key is never in the SQL: dbt, its manifest, partial parse, logs and compiled SQL see
    only the names below. The pads are handed to the engine at run time:
    * DuckDB: session variables set on every connection by the dbt-duckdb plugin
      pipelines/privacy/duckdb_plugin.py (profiles.yml);
    * Spark: session confs spark.segmart.pii_ipad / spark.segmart.pii_opad (hex), set by
      scripts/spark/dbt_spark.py, read through Spark's ${...} variable substitution.
    The key is env SEGMART_PII_KEY, else the home's generated state/pii.key (docs/privacy.md).
    Without the pads the build fails (no silent null hashes). Models that call pii_hash are
    tables, so no view a BI reader opens needs the key.
    Null or blank values hash to null. Normalise (trim/lower) before hashing. -#}
{% macro pii_hash(expr) -%}
    {{ return(adapter.dispatch('pii_hash', 'segmart')(expr)) }}
{%- endmacro %}

{% macro default__pii_hash(expr) -%}
    case when nullif(trim({{ expr }}), '') is not null
        then sha256(
            coalesce(cast(getvariable('segmart_pii_opad') as blob), error('{{ segmart.pii_key_missing() }}'))
            || unhex(sha256(
                coalesce(cast(getvariable('segmart_pii_ipad') as blob), error('{{ segmart.pii_key_missing() }}'))
                || encode({{ expr }})
            ))
        ) end
{%- endmacro %}
{% macro spark__pii_hash(expr) -%}
    case when nullif(trim({{ expr }}), '') is not null
        then sha2(concat(
            {{ segmart.spark_pii_pad('opad') }},
            unhex(sha2(concat({{ segmart.spark_pii_pad('ipad') }}, encode({{ expr }}, 'UTF-8')), 256))
        ), 256) end
{%- endmacro %}
{#- An unset conf substitutes as '' (unhex: empty binary), so check the 64-byte length. -#}
{% macro spark_pii_pad(name) -%}
    if(length(unhex('${spark.segmart.pii_{{ name }}}')) = 64,
        unhex('${spark.segmart.pii_{{ name }}}'),
        raise_error('{{ segmart.pii_key_missing() }}'))
{%- endmacro %}

{% macro pii_key_missing() -%}
    pii_hash: the PII key was not handed to this connection (dbt-duckdb plugin pipelines.privacy.duckdb_plugin, or Spark confs spark.segmart.pii_ipad/opad); see docs/privacy.md
{%- endmacro %}

{#- Normalised e-mail: trimmed, lower-cased, null when it has no '@'. -#}
{% macro normalize_email(expr) -%}
    case when lower(trim({{ expr }})) like '%_@_%' then lower(trim({{ expr }})) end
{%- endmacro %}

{#- Normalised phone: digits only (a leading '+' kept), null when fewer than 6 digits. -#}
{% macro normalize_phone(expr) -%}
    case when length({{ segmart.regex_replace_all(expr, "'[^0-9]'", "''") }}) >= 6
        then case when trim({{ expr }}) like '+%' then '+' else '' end
            || {{ segmart.regex_replace_all(expr, "'[^0-9]'", "''") }}
    end
{%- endmacro %}
