"""The dbt project builds on Spark and gives the same marts as on DuckDB.

One small raw layer (the hand-made KPI dataset of tests/kpi: every entity, re-exported
files, mixed currencies, multi-touch journeys) is built with `dbt build` on DuckDB and with
scripts/spark/dbt_spark.py on a local Spark session (dbt-spark `session` method, metastore
and warehouse under tmp). Every table of the `marts` schema must then have the same columns,
the same row count and the same rows (sorted; floats within 1e-6 relative).

dbt tests are excluded on both engines here: they belong to tests/dbt and tests/kpi, and on
Spark they would triple the run time. The incremental models are plain tables on Spark
(dbt_project/macros/incremental/load_time.sql); int_sessions is compared beside the marts.
`SEGMART_SPARK_PARITY_HOME=<home>` runs the same
comparison on an existing home instead (e.g. the demo at scale 0.01).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
sys.path.insert(0, str(TESTS_DIR / "dbt"))
sys.path.insert(0, str(TESTS_DIR / "kpi"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dbt_invoke import dbt_build  # noqa: E402
from kpi_dataset import raw_frames  # noqa: E402
from parity import compare_marts, read_spark_export  # noqa: E402
from raw_builder import write_raw  # noqa: E402

SPARK_RUNNER = REPO_ROOT / "scripts" / "spark" / "dbt_spark.py"
ALL_MODELS_AND_SEEDS = "resource_type:model resource_type:seed"

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.xdist_group("spark"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java: no `java` on PATH"),
]


def duckdb_marts(home: Path) -> dict[str, pd.DataFrame]:
    """Every table of schema `marts` in the home's DuckDB warehouse."""
    path = home / "warehouse" / "segmart.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        return {name: con.sql(f'select * from marts."{name}"').df() for name in names}


def duckdb_partitioned(home: Path) -> dict[str, pd.DataFrame]:
    """The incremental models outside the marts schema (int_sessions)."""
    path = home / "warehouse" / "segmart.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        return {"int_sessions": con.sql("select * from intermediate.int_sessions").df()}


def spark_build(home: Path, work: Path, export: Path) -> str:
    """Build every model and seed on a local Spark session and export the marts and
    ``int_sessions``."""
    done = subprocess.run(
        [
            sys.executable,
            str(SPARK_RUNNER),
            "--home",
            str(home),
            "--work",
            str(work),
            "--export",
            str(export),
            "--skip-tests",
            "--export-hashes",
            str(export.parent / "pii_hashes"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        lines = done.stdout.splitlines() + done.stderr.splitlines()
        errors = [line for line in lines if "ERROR" in line or "rror" in line]
        pytest.fail("dbt on Spark failed:\n" + "\n".join(errors[-40:] or lines[-60:]))
    return done.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    existing = os.environ.get("SEGMART_SPARK_PARITY_HOME")
    if existing:
        return Path(existing).resolve()
    home = tmp_path_factory.mktemp("spark_parity_home")
    write_raw(home, raw_frames())
    return home


@pytest.fixture(scope="module")
def builds(home, tmp_path_factory) -> tuple[Path, Path]:
    """(DuckDB home, Spark work directory), each with the whole project built."""
    if os.environ.get("SEGMART_SPARK_PARITY_HOME"):
        # never write into a user's warehouse: build DuckDB on a copy of the raw layer
        copy = tmp_path_factory.mktemp("spark_parity_duckdb")
        shutil.copytree(home / "raw", copy / "raw")
        (copy / "warehouse").mkdir()
        duckdb_home = copy
    else:
        duckdb_home = home
    target = tmp_path_factory.mktemp("spark_parity_duckdb_target")
    dbt_build(duckdb_home, target, select=ALL_MODELS_AND_SEEDS)
    work = tmp_path_factory.mktemp("spark_parity_work")
    export = work / "marts"
    spark_build(home, work, export)
    return duckdb_home, work


@pytest.fixture(scope="module")
def marts(builds) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(DuckDB marts, Spark marts) built from the same raw layer."""
    duckdb_home, work = builds
    on_duckdb = duckdb_marts(duckdb_home) | duckdb_partitioned(duckdb_home)
    return on_duckdb, read_spark_export(work / "marts")


def test_every_mart_built_on_both_engines(marts):
    on_duckdb, on_spark = marts
    assert on_duckdb, "DuckDB built no marts"
    assert sorted(on_spark) == sorted(on_duckdb)


def test_marts_have_rows(marts):
    """A parity test over empty tables proves nothing: the dataset must fill the main marts."""
    on_duckdb, _ = marts
    for name in ("fct_orders", "fct_opportunities", "fct_attribution", "kpi_channel_monthly"):
        assert len(on_duckdb[name]) > 0, f"{name} is empty on DuckDB"


def test_marts_equal_across_engines(marts):
    on_duckdb, on_spark = marts
    only, diffs = compare_marts(on_duckdb, on_spark)
    assert not only, f"marts on one engine only: {only}"
    problems = [f"{d.name}: {p}" for d in diffs for p in d.problems]
    assert not problems, "marts differ between DuckDB and Spark:\n" + "\n".join(problems)


# the staging models that hash e-mails (the dataset has no phones): (model, key columns,
# hashed column, raw entity, raw column); the marts carry no hash, so pii_hash parity is
# checked on staging
PII_HASHES = [
    ("stg_crm__contacts", ["contact_id"], "email_hash", "contacts", "email"),
    ("stg_crm__leads", ["lead_id"], "email_hash", "leads", "email"),
    ("stg_crm__orders", ["order_id", "order_line_id"], "email_hash", "orders", "email"),
]


def _normalised_email(value: str) -> str | None:
    value = value.strip().lower()
    return value if "@" in value[1:-1] else None


@pytest.mark.parametrize(("model", "key", "column", "entity", "raw_column"), PII_HASHES)
def test_pii_hashes_equal_across_engines_and_hmac(
    builds, home, model, key, column, entity, raw_column
):
    """pii_hash (HMAC-SHA-256, dbt_project/macros/portable/pii.sql) gives the same hash per
    row on DuckDB and Spark, and each is Python's hmac of a normalised raw value."""
    duckdb_home, work = builds
    with duckdb.connect(str(duckdb_home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        on_duckdb = con.sql(f"select {', '.join(key)}, {column} from staging.{model}").df()
    on_spark = read_spark_export(work / "pii_hashes")[model][[*key, column]]
    both = on_duckdb.merge(on_spark, on=key, how="outer", suffixes=("_duckdb", "_spark"))
    assert len(both) == len(on_duckdb) == len(on_spark)
    hashed = both[f"{column}_duckdb"].notna()
    assert hashed.sum() > 0, f"no {column} in {model}: the parity would prove nothing"
    assert (
        both[f"{column}_duckdb"].fillna("").tolist() == both[f"{column}_spark"].fillna("").tolist()
    )
    raw = pd.concat(pd.read_parquet(p) for p in (home / "raw" / entity).glob("[!_]*.parquet"))
    secret = os.environ["SEGMART_PII_KEY"].encode()
    expected = {
        hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()
        for value in raw[raw_column].dropna().map(_normalised_email).dropna()
    }
    assert set(both.loc[hashed, f"{column}_duckdb"]) <= expected
