"""Read a mart's features from the DuckDB warehouse and write the cluster tables back.

Tables (schema ``ml``, read by dbt as source ``ml``): ``<entity>_clusters`` (key, cluster_id,
cluster_label) and ``<entity>_cluster_profiles`` (long: one row per cluster and feature).
Both are replaced in one transaction, so readers never see assignments and a profile from
different fits.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.core.signatures import query_fingerprint, record_signature
from pipelines.segments.config import ClusterSpec

ML_SCHEMA = "ml"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MissingMartError(RuntimeError):
    """The mart to cluster is not in the warehouse yet (build the dbt models first)."""


def _quoted(relation: str) -> str:
    parts = relation.split(".")
    if not all(_IDENT.match(p) for p in parts):
        raise ValueError(f"not a plain relation name: {relation!r}")
    return ".".join(f'"{p}"' for p in parts)


def connect(warehouse: Path, settings: dict | None = None) -> duckdb.DuckDBPyConnection:
    config = {k: v for k, v in (settings or {}).items() if k in ("memory_limit", "threads") and v}
    return duckdb.connect(str(warehouse), config={k: str(v) for k, v in config.items()})


def table_names(entity: str) -> tuple[str, str]:
    """(assignments, profile) table names of ``accounts`` / ``customers``."""
    singular = entity.rstrip("s")
    return f"{singular}_clusters", f"{singular}_cluster_profiles"


def _require(con: duckdb.DuckDBPyConnection, spec: ClusterSpec) -> None:
    schema, _, name = spec.relation.rpartition(".")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema or "main", name],
    ).fetchone()[0]
    if not exists:
        raise MissingMartError(
            f"{spec.relation} is not in the warehouse: build the dbt models before clustering"
        )


def read_features(con: duckdb.DuckDBPyConnection, spec: ClusterSpec) -> pd.DataFrame:
    _require(con, spec)
    return con.execute(features_sql(spec)).df()


def features_sql(spec: ClusterSpec) -> str:
    """The query read_features runs: the key and the feature columns of the mart."""
    wanted = [spec.key, *spec.columns]
    bad = [c for c in wanted if not _IDENT.match(c)]
    if bad:
        raise ValueError(f"clusters.{spec.entity}: not plain column names: {bad}")
    columns = ", ".join(f'"{c}"' for c in wanted)
    return f"select {columns} from {_quoted(spec.relation)}"


def input_fingerprints(con: duckdb.DuckDBPyConnection, spec: ClusterSpec) -> dict[str, object]:
    """What read_features reads, fingerprinted (pipelines/core/signatures.py)."""
    _require(con, spec)
    return {spec.relation: query_fingerprint(con, features_sql(spec))}


def write_tables(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    assignments: pd.DataFrame,
    profile: pd.DataFrame,
    signature: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """Replace ``ml.<entity>_clusters`` and ``ml.<entity>_cluster_profiles`` atomically, with
    the (step, signature) of their inputs recorded in the same transaction."""
    clusters_table, profile_table = table_names(entity)
    key = assignments.columns[0]
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {ML_SCHEMA}")
        con.register("assignments_frame", assignments)
        con.register("profile_frame", profile)
        con.execute(
            f"create or replace table {ML_SCHEMA}.{clusters_table} as "
            f'select cast("{key}" as varchar) as "{key}", cast(cluster_id as integer) as '
            "cluster_id, cast(cluster_label as varchar) as cluster_label "
            f'from assignments_frame order by "{key}"'
        )
        con.execute(
            f"create or replace table {ML_SCHEMA}.{profile_table} as select "
            "cast(entity_type as varchar) as entity_type, cast(cluster_id as integer) as "
            "cluster_id, cast(cluster_label as varchar) as cluster_label, "
            "cast(cluster_size as bigint) as cluster_size, cast(cluster_share as double) as "
            "cluster_share, cast(feature as varchar) as feature, cast(feature_mean as double) "
            "as feature_mean, cast(feature_z as double) as feature_z, "
            "cast(is_fit_feature as boolean) as is_fit_feature "
            "from profile_frame order by cluster_id, feature"
        )
        if signature is not None:
            record_signature(con, ML_SCHEMA, *signature)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        con.unregister("assignments_frame")
        con.unregister("profile_frame")
    return f"{ML_SCHEMA}.{clusters_table}", f"{ML_SCHEMA}.{profile_table}"
