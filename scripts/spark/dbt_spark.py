"""Build the segmart dbt project on a local Spark session, in one process.

dbt-spark's ``session`` method runs Spark inside the dbt process, so every dbt command
would start its own JVM (slow). This script runs ``run-operation register_raw_sources``
(the raw Parquet folders become catalog tables) and ``dbt build`` with dbt's programmatic
runner in one Python process, sharing one SparkSession, and can then export the marts as
Parquet for comparison. Spark's catalog (Derby metastore) and warehouse live in ``--work``,
never in the repository.

    python scripts/spark/dbt_spark.py --home data --work /tmp/segmart-spark \\
        [--export /tmp/marts] [--select ...] [--exclude ...] [--skip-tests] [--vars JSON]

On a real cluster use the ``thrift`` / Databricks targets instead (docs/spark.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
MARTS_SCHEMA = "marts"
# the incremental models outside the marts schema that the parity test compares too (plain
# tables on Spark: dbt_project/macros/incremental/load_time.sql)
INCREMENTAL_INTERMEDIATE = ("intermediate.int_sessions",)
# the staging models that keyed-hash personal data (pii_hash), exported by --export-hashes
PII_HASHING_STAGING = (
    "staging.stg_crm__contacts",
    "staging.stg_crm__leads",
    "staging.stg_crm__orders",
    "staging.stg_crm__nps_responses",
    "staging.stg_web__events",
)


def write_spark_conf(work: Path, cores: int = 2, shuffle_partitions: int = 2) -> Path:
    """A ``SPARK_CONF_DIR`` under ``work`` for a small local session; returns the directory.

    Metastore and warehouse go under ``work``; the session runs in UTC (the raw layer stores
    naive UTC timestamps, as DuckDB reads them); few shuffle partitions, no whole-stage
    code generation and no adaptive re-planning suit small data.
    """
    conf_dir = work / "spark-conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "spark.master": f"local[{cores}]",
        "spark.app.name": "segmart-dbt",
        "spark.sql.warehouse.dir": str(work / "spark-warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={work / 'metastore_db'};create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={work}",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.default.parallelism": str(cores),
        # small data: compiling generated code and re-planning stages costs more than it saves
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.adaptive.enabled": "false",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.memory": "1g",
    }
    text = "".join(f"{key} {value}\n" for key, value in settings.items())
    (conf_dir / "spark-defaults.conf").write_text(text)
    (conf_dir / "log4j2.properties").write_text(
        "rootLogger.level = error\n"
        "rootLogger.appenderRef.stderr.ref = console\n"
        "appender.console.type = Console\n"
        "appender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n"
        # `create schema if not exists` on an existing schema is logged as an error by Hive
        "logger.hms.name = org.apache.hadoop.hive.metastore.RetryingHMSHandler\n"
        "logger.hms.level = off\n"
    )
    return conf_dir


def prepare_environment(home: Path, work: Path) -> None:
    """Point this process (dbt, Spark) at ``home`` and the Spark files in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    os.environ["SPARK_CONF_DIR"] = str(write_spark_conf(work))
    os.environ["SEGMART_HOME"] = str(home.resolve())
    os.environ["SEGMART_DBT_TARGET"] = "spark"
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.chdir(work)  # Spark and Derby drop stray files (derby.log) in the cwd
    # pyspark logs every failed statement with its whole Java stack; dbt reports the error
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)


def start_session(catalog: str = "in-memory"):
    """Start this process's SparkSession before dbt-spark does, so dbt reuses it.

    dbt-spark's session method asks for Hive support (a Derby metastore on disk); with
    ``catalog="in-memory"`` the catalog lives in the session instead: no metastore files,
    and much faster catalog lookups for the project's stacks of views. Everything this
    script runs (registration, build, export) shares the one session, so nothing is lost.
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if catalog == "hive":
        builder = builder.enableHiveSupport()
    else:
        builder = builder.config("spark.sql.catalogImplementation", "in-memory")
    return builder.getOrCreate()


def hand_over_pii_key(spark, home: Path) -> None:
    """Give the session the HMAC pads of the home's PII key (``pipelines.core.settings.pii_key``:
    env SEGMART_PII_KEY, else ``{home}/state/pii.key``) as runtime confs, which the
    ``spark__pii_hash`` macro reads through ``${...}`` substitution: the key is never in the
    SQL dbt compiles, logs or stores (dbt_project/macros/portable/pii.sql)."""
    sys.path.insert(0, str(REPO_ROOT))
    from pipelines.core.settings import pii_key

    ipad, opad = pii_key(home).pads()
    spark.conf.set("spark.segmart.pii_ipad", ipad.hex())
    spark.conf.set("spark.segmart.pii_opad", opad.hex())


def invoke_dbt(args: list[str], work: Path, project_dir: Path = DBT_PROJECT_DIR) -> None:
    """Run one dbt command in this process; raise when it fails."""
    from dbt.cli.main import dbtRunner

    common = [
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--target", "spark",
    ]  # fmt: skip
    started = time.perf_counter()
    result = dbtRunner().invoke([*args[:1], *common, *args[1:]])
    print(f"dbt {args[0]}: {time.perf_counter() - started:.1f} s", flush=True)
    if not result.success:
        raise SystemExit(f"dbt {' '.join(args)} failed: {result.exception or 'see the log above'}")


def export_marts(out_dir: Path, schema: str = MARTS_SCHEMA, extra: tuple = ()) -> dict[str, int]:
    """Write every table of ``schema`` (and the ``extra`` schema.table names) as one Parquet
    file per table; returns row counts."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()  # the session dbt-spark started
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    names = [
        f"{schema}.{row.tableName}"
        for row in (spark.sql(f"show tables in {schema}").collect() if schema else [])
        if not row.isTemporary
    ]
    for name in [*names, *extra]:
        frame = spark.table(name)
        table = name.split(".")[-1]
        target = out_dir / table
        shutil.rmtree(target, ignore_errors=True)
        frame.coalesce(1).write.parquet(str(target))
        counts[table] = frame.count()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="segmart home with raw/")
    parser.add_argument("--work", type=Path, required=True, help="Spark metastore/warehouse dir")
    parser.add_argument("--export", type=Path, help="write the marts here as Parquet")
    parser.add_argument(
        "--export-hashes",
        type=Path,
        help="write the staging models that keyed-hash personal data here (parity of pii_hash)",
    )
    parser.add_argument("--project-dir", type=Path, default=DBT_PROJECT_DIR, help="dbt project")
    parser.add_argument("--select", nargs="*", default=[], help="dbt --select")
    parser.add_argument("--exclude", nargs="*", default=[], help="dbt --exclude")
    parser.add_argument("--skip-tests", action="store_true", help="exclude dbt tests")
    parser.add_argument("--vars", default=None, help="dbt --vars (JSON)")
    parser.add_argument(
        "--catalog",
        choices=["in-memory", "hive"],
        default="in-memory",
        help="Spark catalog: in this process only (default) or a Derby metastore in --work",
    )
    args = parser.parse_args(argv)

    home, work = args.home.resolve(), args.work.resolve()
    prepare_environment(home, work)
    hand_over_pii_key(start_session(args.catalog), home)
    dbt_vars = ["--vars", args.vars] if args.vars else []
    project = args.project_dir.resolve()
    invoke_dbt(["run-operation", "register_raw_sources", *dbt_vars], work, project)
    build = ["build", *dbt_vars]
    if args.select:
        build += ["--select", *args.select]
    if args.exclude:
        build += ["--exclude", *args.exclude]
    if args.skip_tests:
        build += ["--exclude-resource-type", "test", "unit_test"]
    try:
        invoke_dbt(build, work, project)
    finally:  # export what was built even when some models failed (for the diagnosis)
        if args.export:
            counts = export_marts(args.export.resolve(), extra=INCREMENTAL_INTERMEDIATE)
            (args.export / "_counts.json").write_text(json.dumps(counts, indent=2))
            print(f"exported {len(counts)} marts to {args.export}", flush=True)
        if args.export_hashes:
            export_marts(args.export_hashes.resolve(), schema="", extra=PII_HASHING_STAGING)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
