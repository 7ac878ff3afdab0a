"""Tier 3: the real Dagster job on a small generated dataset, end to end.

Expected values are computed here, independently of the dbt models: from the generator's
ground truth (``_expected.json``), from the raw Parquet with pandas, and from the FX seed.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.core.settings import DBT_PROJECT_DIR
from tests.pipeline.runner import check_results, materialized_keys, run_job
from tests.reliability.pipeline_home import mart_diff
from tests.reliability.pipeline_home import run as run_cli
from tests.shared_homes import StoredRun, demo_home, private_copy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_run")]

STAGING = {
    "accounts": "stg_crm__accounts",
    "contacts": "stg_crm__contacts",
    "leads": "stg_crm__leads",
    "opportunities": "stg_crm__opportunities",
    "nps_responses": "stg_crm__nps_responses",
    "events": "stg_web__events",
    "ad_spend_daily": "stg_ads__ad_spend_daily",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """This module's copy of the shared demo home (tests/shared_homes.py) and its run."""
    home = private_copy(demo_home(tmp_path_factory), tmp_path_factory.mktemp("demo") / "home")
    return home, StoredRun(home)


def _warehouse(home: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True)


def _raw(home: Path, entity: str) -> pd.DataFrame:
    files = [p for p in (home / "raw" / entity).glob("*.parquet")]
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def test_the_job_succeeds_and_publishes(demo):
    home, result = demo
    failed = [k for k, ok in check_results(result).items() if not ok]
    errors = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, f"run failed: {errors}; checks not passed: {failed}"
    keys = materialized_keys(result)
    assert {"dim_accounts", "dim_customers", "kpi_channel_monthly", "serving/marts"} <= keys
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables = {
            r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()
        }
    assert {"dim_accounts", "dim_customers", "kpi_channel_monthly"} <= tables
    for mart in ("dim_accounts", "dim_customers", "kpi_channel_monthly"):
        assert (home / "serving" / "parquet" / f"{mart}.parquet").exists()


def test_rows_reconcile_landing_to_raw_plus_quarantine(demo):
    home, _ = demo
    manifests = [json.loads(p.read_text()) for p in (home / "manifest").rglob("*.json")]
    loaded = [m for m in manifests if m["status"] == "loaded"]
    assert loaded
    for m in loaded:
        assert m["rows_read"] == m["rows_loaded"] + m["rows_quarantined"], m["file"]
    expected = json.loads((home / "landing" / "demo" / "_expected.json").read_text())["files"]
    by_file = {m["file"].removeprefix("demo/"): m for m in manifests}
    for name, truth in expected.items():
        record = by_file[name]
        if truth["identical_to"]:
            assert record["status"] == "skipped_duplicate", name
            continue
        assert record["status"] == "loaded", (name, record["reason"])
        # every data row of the file was read: loaded or quarantined, nothing dropped
        assert record["rows_read"] == truth["data_rows"], name
        assert record["rows_quarantined"] == truth["bad_rows"], (name, record["quarantine_reasons"])
    for entity in {m["entity"] for m in loaded if m["entity"]}:  # empty files map to none
        raw_rows = len(_raw(home, entity))
        assert raw_rows == sum(m["rows_loaded"] for m in loaded if m["entity"] == entity), entity


def test_staging_keeps_exactly_the_valid_records(demo):
    home, _ = demo
    truth = json.loads((home / "landing" / "demo" / "_expected.json").read_text())["entities"]
    with _warehouse(home) as con:
        for entity, model in STAGING.items():
            count = con.execute(f"select count(*) from staging.{model}").fetchone()[0]
            assert count == truth[entity]["valid_records"], entity


def test_spend_in_marts_equals_raw_spend_converted(demo):
    home, _ = demo
    raw = _raw(home, "ad_spend_daily")
    key = ["spend_date", "platform", "ad_account_id", "campaign_id"]
    raw = raw.sort_values(["_ingested_at", "_file_hash", "_source_row"]).drop_duplicates(
        key, keep="last"
    )
    fx = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv")
    fx["rate_date"] = pd.to_datetime(fx["rate_date"]).astype("datetime64[ns]")
    fx = fx.sort_values("rate_date")
    raw["spend_date"] = pd.to_datetime(raw["spend_date"]).astype("datetime64[ns]")
    raw = raw.sort_values("spend_date")
    converted = pd.merge_asof(
        raw, fx, left_on="spend_date", right_on="rate_date", by="currency", direction="backward"
    )
    assert converted["rate_to_usd"].notna().all()
    expected = (converted["spend"] * converted["rate_to_usd"]).sum()
    with _warehouse(home) as con:
        mart = con.execute("select sum(spend) from marts.kpi_channel_monthly").fetchone()[0]
    assert mart == pytest.approx(expected, rel=1e-9)


def _dagster_runs(home: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        return instance.get_runs_count()


def test_rerun_loads_nothing_and_gives_identical_marts(demo, tmp_path):
    """A forced ``segmart run`` (nothing landed) rebuilds every unpartitioned model and
    publishes again: identical marts (same rows and values,
    floats within 1e-9 relative: DuckDB sums doubles in parallel, so the last bits of a sum
    depend on the order its threads met the rows). The next plain ``segmart run`` sees that
    nothing changed and starts no Dagster run at all."""
    home, _ = demo
    before = tmp_path / "before"
    shutil.copytree(home / "serving", before / "serving")
    raw_files = sorted(p.name for p in (home / "raw").rglob("*.parquet"))
    forced = run_cli(home, args=("--force",))
    assert forced.proc.returncode == 0, forced.tail()
    assert sorted(p.name for p in (home / "raw").rglob("*.parquet")) == raw_files
    assert mart_diff(before, home) == {}
    assert (home / "state" / "last_build.json").exists()

    runs, published = _dagster_runs(home), _stats(home / "serving")
    again = run_cli(home)
    assert again.proc.returncode == 0, again.tail()
    assert "Up to date: nothing new since the run that finished at" in again.output
    assert _dagster_runs(home) == runs
    assert _stats(home / "serving") == published


def _stats(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_each_changed_input_makes_the_next_run_due(demo, tmp_path, monkeypatch):
    """Every input of the marts, changed on its own, ends the up-to-date state with its reason:
    a landing file touched or added, a raw file rewritten, the home's configuration, a code
    file, a published file removed; a run that starts drops the record until it succeeds."""
    from pipelines.automation import up_to_date
    from pipelines.core.settings import home_paths
    from pipelines.ingest.loader import landing_files

    home, _ = demo
    copy = tmp_path / "home"
    shutil.copytree(home, copy, ignore=shutil.ignore_patterns("dagster_home", "*.lock"))
    paths = home_paths(copy)
    up_to_date.forget_record(paths)
    assert up_to_date.check(paths).reason == "no record of a finished run"
    up_to_date.record_success(paths)
    assert up_to_date.check(paths).up_to_date

    def due(reason_start: str) -> None:
        verdict = up_to_date.check(paths)
        assert not verdict.up_to_date
        assert verdict.reason.startswith(reason_start), verdict.reason
        up_to_date.record_success(paths)  # the next case starts up to date again
        assert up_to_date.check(paths).up_to_date

    landing = list(landing_files(copy / "landing"))
    stat = landing[0].stat()
    os.utime(landing[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    verdict = up_to_date.check(paths)
    assert verdict.reason == f"new landing file {landing[0].relative_to(copy / 'landing')}"
    shutil.copy(landing[1], landing[1].with_name("renamed_" + landing[1].name))
    assert up_to_date.check(paths).reason.startswith("new landing file")
    for path in (copy / "landing").rglob("*"):  # as if ingest had handled them
        if path.is_file():
            path.unlink()
    up_to_date.record_success(paths)

    raw = sorted((copy / "raw" / "orders").glob("[0-9a-f]*.parquet"))[0]
    raw.write_bytes(raw.read_bytes())  # rewritten in place, as `segmart forget` does
    due("raw files: 1 rewritten (e.g. orders/")

    (copy / "segmart.yaml").write_text("dbt_vars:\n  default_gross_margin: 0.5\n")
    due("the home's configuration or mappings changed")

    code = tmp_path / "repo"
    (code / "dbt_project" / "models").mkdir(parents=True)
    model = code / "dbt_project" / "models" / "m.sql"
    model.write_text("select 1")
    monkeypatch.setattr(up_to_date, "REPO_ROOT", code)
    up_to_date.record_success(paths)
    model.write_text("select 2")
    due("the code or shipped configuration changed")

    next((copy / "serving" / "parquet").rglob("*.parquet")).unlink()
    due("published files: 1 removed")

    up_to_date.forget_record(paths)
    assert up_to_date.check(paths).reason == "no record of a finished run"


def test_forget_a_person_then_rebuild(demo):
    """Erasing a customer by e-mail removes their raw rows, and the next run still passes every
    gate (the raw row-count baseline is lowered by exactly the erased rows)."""
    from pipelines.privacy.forget import forget

    home, _ = demo
    orders = _raw(home, "orders")
    email = orders["email"].dropna().value_counts().index[0]
    raw_rows = {e: len(_raw(home, e)) for e in ("orders", "contacts")}
    report = forget(home, email)
    assert report.total_rows > 0
    assert email not in _raw(home, "orders")["email"].dropna().str.lower().tolist()
    assert len(_raw(home, "orders")) < raw_rows["orders"]
    assert email not in (home / "state" / "erasures.jsonl").read_text()
    # as `segmart forget` runs it: rows erased from raw are no rows loaded, so the incremental
    # models are rebuilt completely (docs/incremental.md)
    result = run_job(home, tags={"segmart/full_refresh": "true"})
    assert result.success
    (materialization,) = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.asset_key == dg.AssetKey("int_order_lines_converted")
    ]
    assert materialization.partition is None
    assert materialization.metadata["segmart/incremental"].value == (
        "full refresh: run tagged segmart/full_refresh=true"
    )
