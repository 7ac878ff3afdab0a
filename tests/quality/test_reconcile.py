"""Reconciliation checks on a real run: they pass, and tampering fails them and blocks publish.

One small generated home is built with the real Dagster job; expected values are recomputed
here with pandas (manifest JSON, raw Parquet, the FX seed CSV). Each tamper runs on a copy of
that home: rows deleted from a raw file, a quarantine file dropped, one spend value changed in
the mart, leads lost and duplicated in a staging model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipelines.core.settings import DBT_PROJECT_DIR
from tests.pipeline.runner import home_env, materialized_keys, run_job
from tests.shared_homes import StoredRun, demo_home, private_copy

pytestmark = pytest.mark.xdist_group("reconcile")
slow = pytest.mark.slow  # the tests on a real run (the fast ones at the end are not)

CHECK_PREFIX = "reconcile_"
ENTITY_KEYS = {
    "accounts": "crm/accounts",
    "contacts": "crm/contacts",
    "leads": "crm/leads",
    "opportunities": "crm/opportunities",
    "orders": "crm/orders",
    "nps_responses": "crm/nps_responses",
    "events": "web/events",
    "ad_spend_daily": "ads/ad_spend_daily",
}
SPEND_KEY = ["spend_date", "platform", "ad_account_id", "campaign_id"]


def evaluations(result) -> dict[str, object]:
    """{'<asset> :: <check>': AssetCheckEvaluation} of the reconciliation checks of a run."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if ev.check_name.startswith(CHECK_PREFIX):
                out[f"{ev.asset_key.to_user_string()} :: {ev.check_name}"] = ev
    return out


def meta(evaluation, name):
    return evaluation.metadata[name].value


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The shared demo home (tests/shared_homes.py; read only here) and the run that built it."""
    home = demo_home(tmp_path_factory)
    return home, StoredRun(home)


# ------------------------------------------------------------------ pandas, independently


def manifests(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "manifest").glob("*.json"))]


def raw_frame(home: Path, entity: str) -> pd.DataFrame:
    files = [p for p in sorted((home / "raw" / entity).glob("*.parquet")) if p.stem != "_schema"]
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def latest_versions(frame: pd.DataFrame, key: list[str], updated: bool = False) -> pd.DataFrame:
    """The documented rule: the latest _ingested_at wins, then updated_at (when the entity has
    one), then the highest _file_hash and _source_row."""
    order = ["_ingested_at", *(["updated_at"] if updated else []), "_file_hash", "_source_row"]
    ordered = frame.sort_values(order, ascending=False, na_position="last", kind="stable")
    return ordered.drop_duplicates(subset=key, keep="first")


def to_usd(frame: pd.DataFrame, date_col: str, currency_col: str, amount_col: str) -> pd.Series:
    """``amount`` in USD with the latest seed rate on or before the date (rates hold)."""
    rates = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv", parse_dates=["rate_date"])
    rates = rates[rates["rate_to_usd"] > 0].sort_values("rate_date")
    left = frame.assign(
        _d=pd.to_datetime(frame[date_col]).astype("datetime64[ns]"),
        _c=frame[currency_col].str.strip().str.upper(),
        _i=range(len(frame)),
    ).sort_values("_d")
    merged = pd.merge_asof(
        left,
        rates.rename(columns={"currency": "_c"}).astype({"rate_date": "datetime64[ns]"}),
        left_on="_d",
        right_on="rate_date",
        by="_c",
        direction="backward",
    ).sort_values("_i")
    rate = merged["rate_to_usd"].where(merged["_c"] != "USD", 1.0).to_numpy()
    return pd.Series(frame[amount_col].to_numpy() * rate, index=frame.index)


# ------------------------------------------------------------------ a clean run


@slow
def test_every_reconciliation_passes_on_a_real_run(built):
    home, result = built
    evals = evaluations(result)
    assert len(evals) == 8 + 8 + 4 + 2, sorted(evals)
    failed = {k: e.description for k, e in evals.items() if not e.passed}
    assert not failed
    assert all(e.blocking and e.severity == dg.AssetCheckSeverity.ERROR for e in evals.values())
    assert "serving/marts" in materialized_keys(result)


@slow
def test_landing_to_raw_terms_match_pandas(built):
    home, result = built
    evals = evaluations(result)
    for entity, key in ENTITY_KEYS.items():
        records = [m for m in manifests(home) if m["entity"] == entity and m["status"] == "loaded"]
        raw = raw_frame(home, entity)
        quarantine = pd.concat(
            [pd.read_parquet(p) for p in (home / "quarantine" / entity).glob("*.parquet")]
            or [pd.DataFrame()]
        )
        terms = meta(evals[f"{key} :: reconcile_landing_to_raw"], "terms")
        assert terms["rows_read"] == sum(m["rows_read"] for m in records)
        assert terms["raw_rows"] == len(raw)
        assert terms["quarantined_rows"] == len(quarantine)
        assert terms["files_loaded"] == len(records)


@slow
def test_raw_to_staging_terms_match_pandas(built):
    home, result = built
    evals = evaluations(result)
    events = raw_frame(home, "events")
    terms = meta(evals["stg_web__events :: reconcile_raw_to_staging"], "terms")
    assert terms["raw_rows"] == len(events)
    assert terms["superseded_versions"] == int(events.duplicated(subset=["event_id"]).sum())
    assert terms["superseded_versions"] > 0  # the demo re-exports some events
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        staged = con.execute("select count(*) from staging.stg_web__events").fetchone()[0]
    assert terms["staging_rows"] == staged == len(events) - terms["superseded_versions"]


@slow
def test_spend_and_revenue_match_pandas(built):
    home, result = built
    evals = evaluations(result)

    spend = latest_versions(raw_frame(home, "ad_spend_daily"), SPEND_KEY)
    spend["spend_usd"] = to_usd(spend, "spend_date", "currency", "spend")
    spend["platform"] = spend["platform"].str.strip().str.lower()
    per_day = spend.groupby(["platform", "spend_date"])["spend_usd"].sum()
    check = evals["fct_ad_spend_daily :: reconcile_spend_raw_to_fct"]
    assert meta(check, "expected") == pytest.approx(per_day.sum(), abs=1e-6)
    assert meta(check, "terms")["keys_compared"] == len(per_day)
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        fct = con.execute(
            "select platform, spend_date, sum(spend) as spend "
            "from marts.fct_ad_spend_daily group by all"
        ).fetch_df()
    fct["spend_date"] = pd.to_datetime(fct["spend_date"]).dt.date
    fct = fct.set_index(["platform", "spend_date"])["spend"]
    joined = pd.concat([per_day.rename("raw"), fct.rename("fct")], axis=1)
    assert (joined["raw"] - joined["fct"]).abs().max() <= 0.01

    orders = latest_versions(raw_frame(home, "orders"), ["order_id", "order_line_id"], True)
    net = orders["net_amount"].fillna(
        orders["quantity"] * orders["unit_price"] - orders["discount_amount"].fillna(0)
    )
    orders = orders.assign(net=net, day=orders["ordered_at"].dt.normalize())
    revenue = to_usd(orders, "day", "currency", "net").sum()
    check = evals["fct_orders :: reconcile_staging_to_fct"]
    assert meta(check, "expected") == pytest.approx(revenue, abs=0.01)
    assert meta(check, "terms")["fct_orders"] == orders["order_id"].str.strip().nunique()


# ------------------------------------------------------------------ tampering


@slow
def test_lost_raw_rows_and_quarantine_file_fail_and_block_publish(built, tmp_path):
    home = private_copy(built[0], tmp_path / "home")
    published = sha256(home / "serving" / "marts.duckdb")

    spend_file = max(
        (home / "raw" / "ad_spend_daily").glob("[0-9a-f]*.parquet"),
        key=lambda p: pq.ParquetFile(p).metadata.num_rows,
    )
    table = pq.read_table(spend_file)
    pq.write_table(table.slice(0, table.num_rows - 3), spend_file)  # 3 rows lost
    dropped = sorted((home / "quarantine" / "orders").glob("*.parquet"))[0]
    lost_quarantined = pq.ParquetFile(dropped).metadata.num_rows
    dropped.unlink()
    records = {m["file_hash"]: m for m in manifests(home)}

    result = run_job(home)

    evals = evaluations(result)
    spend = evals["ads/ad_spend_daily :: reconcile_landing_to_raw"]
    assert not spend.passed and spend.severity == dg.AssetCheckSeverity.ERROR
    read = sum(
        m["rows_read"]
        for m in records.values()
        if m["entity"] == "ad_spend_daily" and m["status"] == "loaded"
    )
    assert (meta(spend, "expected"), meta(spend, "actual")) == (read, read - 3)
    assert meta(spend, "difference") == -3
    (bad,) = meta(spend, "failing_keys_sample")
    assert bad["file"] == records[spend_file.stem]["file"]
    assert (bad["rows_read"], bad["raw_rows"], bad["difference"]) == (
        records[spend_file.stem]["rows_read"],
        table.num_rows - 3,
        -3,
    )

    orders = evals["crm/orders :: reconcile_landing_to_raw"]
    assert not orders.passed
    assert meta(orders, "difference") == -lost_quarantined
    (bad,) = meta(orders, "failing_keys_sample")
    assert bad["file"] == records[dropped.stem]["file"]
    assert (bad["quarantined_rows"], bad["manifest_rows_quarantined"]) == (0, lost_quarantined)

    others = [k for k, e in evals.items() if "landing_to_raw" in k and e.passed]
    assert len(others) == len(ENTITY_KEYS) - 2
    keys = materialized_keys(result)
    downstream = {"stg_ads__ad_spend_daily", "stg_crm__orders", "fct_ad_spend_daily", "fct_orders"}
    assert not downstream & keys
    assert not {"kpi_channel_daily", "serving/marts"} & keys
    assert sha256(home / "serving" / "marts.duckdb") == published


def _tamper_warehouse(home: Path) -> dict:
    """+7.5 on one spend row of fct_ad_spend_daily; two leads lost and one doubled in staging."""
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb")) as con:
        row = con.execute(
            "select ad_spend_key, platform, spend_date, channel from marts.fct_ad_spend_daily "
            "where spend > 0 order by ad_spend_key limit 1"
        ).fetchone()
        con.execute(
            "update marts.fct_ad_spend_daily set spend = spend + 7.5 where ad_spend_key = ?",
            [row[0]],
        )
        leads = [
            r[0]
            for r in con.execute(
                "select lead_id from staging.stg_crm__leads order by lead_id limit 3"
            ).fetchall()
        ]
        # staging leads is a table (it hashes personal data), or a view in older projects
        is_view = con.execute(
            "select count(*) from duckdb_views() "
            "where schema_name = 'staging' and view_name = 'stg_crm__leads'"
        ).fetchone()[0]
        con.execute(
            "create table staging.stg_crm__leads_original as select * from staging.stg_crm__leads"
        )
        con.execute(f"drop {'view' if is_view else 'table'} staging.stg_crm__leads")
        con.execute(
            f"""
            create or replace view staging.stg_crm__leads as
            select * from staging.stg_crm__leads_original
            where lead_id not in ('{leads[0]}', '{leads[1]}')
            union all
            select * from staging.stg_crm__leads_original where lead_id = '{leads[2]}'
            """
        )
    return {"platform": row[1], "spend_date": row[2], "channel": row[3], "leads": leads}


@slow
def test_changed_mart_spend_and_staging_rows_fail_and_block_publish(built, tmp_path):
    from pipelines.definitions import defs

    home = private_copy(built[0], tmp_path / "home")
    published = sha256(home / "serving" / "marts.duckdb")
    tampered = _tamper_warehouse(home)
    checks = [
        dg.AssetCheckKey(dg.AssetKey("fct_ad_spend_daily"), "reconcile_spend_raw_to_fct"),
        dg.AssetCheckKey(dg.AssetKey("kpi_channel_daily"), "reconcile_spend_fct_to_kpi"),
        dg.AssetCheckKey(dg.AssetKey("kpi_channel_monthly"), "reconcile_spend_fct_to_kpi"),
        dg.AssetCheckKey(dg.AssetKey("stg_crm__leads"), "reconcile_raw_to_staging"),
        dg.AssetCheckKey(dg.AssetKey("fct_leads"), "reconcile_staging_to_fct"),
    ]
    job = dg.define_asset_job(
        "checks_then_publish",
        selection=dg.AssetSelection.checks(*checks)
        | dg.AssetSelection.assets(dg.AssetKey(["serving", "marts"])),
    )
    with dg.DagsterInstance.ephemeral() as instance, home_env(home):
        definitions = dg.Definitions.merge(defs(), dg.Definitions(jobs=[job]))
        result = definitions.resolve_job_def(job.name).execute_in_process(
            instance=instance, raise_on_error=False
        )
        evals = evaluations(result)
        assert not any(e.passed for e in evals.values()), {k: e.passed for k, e in evals.items()}

        spend = evals["fct_ad_spend_daily :: reconcile_spend_raw_to_fct"]
        assert meta(spend, "difference") == pytest.approx(7.5)
        (bad,) = meta(spend, "failing_keys_sample")
        assert (bad["platform"], bad["spend_date"]) == (
            tampered["platform"],
            str(tampered["spend_date"]),
        )
        assert bad["difference"] == pytest.approx(7.5) and bad["problem"] == "amount differs"
        for kpi in ("kpi_channel_daily", "kpi_channel_monthly"):
            evaluation = evals[f"{kpi} :: reconcile_spend_fct_to_kpi"]
            assert meta(evaluation, "difference") == pytest.approx(-7.5)
            (bad,) = meta(evaluation, "failing_keys_sample")
            assert bad["channel"] == tampered["channel"]

        staging = evals["stg_crm__leads :: reconcile_raw_to_staging"]
        assert meta(staging, "difference") == -1  # two lost, one doubled
        assert meta(staging, "failing_count") == 3
        problems = {(r["lead_id"], r["problem"]) for r in meta(staging, "failing_keys_sample")}
        leads = tampered["leads"]
        assert problems == {
            (leads[0], "missing in the model"),
            (leads[1], "missing in the model"),
            (leads[2], "not expected (extra or duplicated)"),
        }
        # fct_leads still holds the untampered leads: staging → fct fails the other way round
        assert meta(evals["fct_leads :: reconcile_staging_to_fct"], "failing_count") == 3

        assert "serving/marts" not in materialized_keys(result)
        assert sha256(home / "serving" / "marts.duckdb") == published

        # a later run of the publish alone refuses: the failed checks gate across runs
        publish_only = dg.define_asset_job(
            "publish_only", selection=dg.AssetSelection.assets(dg.AssetKey(["serving", "marts"]))
        )
        later = dg.Definitions.merge(definitions, dg.Definitions(jobs=[publish_only]))
        second = later.resolve_job_def("publish_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
    assert not second.success
    (failure,) = [e for e in second.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.message
    assert "reconcile_spend_raw_to_fct" in message and "reconcile_raw_to_staging" in message
    assert sha256(home / "serving" / "marts.duckdb") == published


# ------------------------------------------------------------------ landing → raw, fast cases


def _segmented_google_ads_report() -> str:
    """Rows per device: the mapping aggregates them to one row per campaign and day."""
    lines = [
        "Campaign report",
        '"March 1, 2024 - March 31, 2024"',
        "Day,Campaign ID,Campaign,Device,Impr.,Clicks,Cost,Currency code",
    ]
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        for device, cost in (("Mobile", "10.00"), ("Desktop", "5.50"), ("Tablet", "1.25")):
            lines.append(f'"{day}","111","Brand search","{device}","100","4","{cost}","EUR"')
    lines.append('"2024-03-04","111","Brand search","Mobile","100","4","not a number","EUR"')
    lines.append("Total: Campaigns,,,,,,,")
    return "\n".join(lines) + "\n"


def test_aggregated_rows_are_accounted_and_orphan_parquet_fails(tmp_path):
    from pipelines.core.settings import home_paths
    from pipelines.ingest.loader import run_ingest
    from pipelines.quality.reconcile import landing_to_raw

    landing = tmp_path / "landing" / "ads"
    landing.mkdir(parents=True)
    (landing / "Campaign report 2024-03.csv").write_text(_segmented_google_ads_report())
    run_ingest(tmp_path)
    paths = home_paths(tmp_path)
    (record,) = [m for m in manifests(tmp_path) if m["entity"] == "ad_spend_daily"]
    raw_file = paths.raw / "ad_spend_daily" / f"{record['file_hash']}.parquet"
    raw_rows = len(pd.read_parquet(raw_file))
    quarantined = len(pd.read_parquet(paths.quarantine / "ad_spend_daily" / raw_file.name))
    assert (record["rows_read"], raw_rows, quarantined) == (10, 3, 1)

    rec = landing_to_raw(paths, "ad_spend_daily")
    assert rec.passed, rec.failing
    assert rec.terms["aggregated_away"] == 10 - 1 - 3  # 9 device rows became 3 days
    assert (rec.expected, rec.actual) == (10, 10)

    orphan = raw_file.with_name("f" * 64 + ".parquet")
    shutil.copy(raw_file, orphan)  # rows nobody read from landing
    rec = landing_to_raw(paths, "ad_spend_daily")
    assert not rec.passed
    assert rec.difference == raw_rows
    (bad,) = rec.failing
    assert bad["problem"] == "raw Parquet of a file without a manifest record"
    assert (bad["file_hash"], bad["rows"]) == ("f" * 16, raw_rows)


def test_erased_rows_are_accounted_and_other_deletions_still_fail(tmp_path):
    """`segmart forget` removes a person's raw and quarantine rows on purpose: the
    reconciliation counts them from state/erasures.jsonl; a deletion without it still fails."""
    from pipelines.core.settings import home_paths
    from pipelines.ingest.loader import run_ingest
    from pipelines.privacy.forget import forget
    from pipelines.quality.reconcile import landing_to_raw

    landing = tmp_path / "landing" / "shop"
    landing.mkdir(parents=True)
    (landing / "orders_export_1.csv").write_text(
        "Name,Email,Currency,Created at,Lineitem quantity,Lineitem name,Lineitem price\n"
        "#1,ann@x.io,USD,2024-03-05 10:00:00 -0500,1,Cap,20.00\n"
        "#1,ann@x.io,,,2,Scarf,5.00\n"
        "#2,bob@x.io,USD,2024-03-06 10:00:00 -0500,1,Mug,12.00\n"
        "#3,ann@x.io,USD,not a date,1,Pen,2.00\n"
    )
    run_ingest(tmp_path)
    paths = home_paths(tmp_path)
    assert landing_to_raw(paths, "orders").passed

    report = forget(tmp_path, "Ann@X.io")
    assert report.total_rows == 3  # two raw lines, one quarantined line
    rec = landing_to_raw(paths, "orders")
    assert rec.passed, rec.failing
    assert (rec.terms["raw_rows"], rec.terms["quarantined_rows"]) == (1, 0)
    assert rec.terms["erased_rows"] == 3 and (rec.expected, rec.actual) == (4, 4)

    (raw_file,) = (paths.raw / "orders").glob("[0-9a-f]*.parquet")
    pq.write_table(pq.read_table(raw_file).slice(0, 0), raw_file)  # bob's row lost, unlogged
    rec = landing_to_raw(paths, "orders")
    assert not rec.passed and rec.difference == -1
