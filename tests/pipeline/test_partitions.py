"""Incremental dbt models on load time (docs/incremental.md), on the real Dagster job and dbt.

One small generated home, built as ``segmart run`` builds it (the job, unpartitioned), then
two rounds of new landing files, each run incrementally (the incremental models build the rows
loaded since their last build) and then compared, mart by mart, with a full refresh of the
same data (the job tagged ``segmart/full_refresh=true``):

1. a late day and a new day of GA4 events, and a new Shopify orders export;
2. a restated Meta Ads report (revised spend of past days), a re-exported order line (its
   date and price changed), an identity change (an anonymous visitor logs in as a known
   customer: every earlier session of the device becomes the customer's), and an NPS export
   (nothing new for the incremental models).

Every asset is unpartitioned; the incremental result equals the full refresh in every mart and
incremental model.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.pipeline.runner import check_results, home_env
from tests.reliability.pipeline_home import snapshot, snapshot_diff

NEW_DAY = "20241231"
LATE_DAY = "20241229"
ORDERS_FILE = "crm/shopify/orders_export_24.csv"  # December 2024: lands in round 1
NPS_FILE = "crm/nps/delighted-responses-2025-01-01.csv"  # lands in round 2
META_REPORT = "ads/meta_ads/Segmart-Demo-Campaigns-Nov-1-2024-Nov-30-2024.csv"
OLD_ORDERS = "crm/shopify/orders_export_23.csv"  # November 2024: re-exported line from it
INCREMENTAL = ("int_events_sourced", "int_events_channeled", "int_sessions")
INCREMENTAL_ORDERS = ("int_order_lines_converted",)
INCREMENTAL_MODELS = INCREMENTAL + INCREMENTAL_ORDERS
LOADED_SINCE = "rows loaded since the last build"


def _land(source: Path, home: Path, files: list[Path]) -> None:
    """Copy ``files`` into the home's landing, complete long ago (past the stability wait)."""
    for path in files:
        _age(shutil.copy2(path, home / "landing" / "demo" / path.relative_to(source)))


def _age(path) -> None:
    old = time.time() - 3600
    os.utime(path, (old, old))


def _snapshot(home: Path):
    """Every mart and the incremental intermediate models, rows in a canonical order."""
    return snapshot(
        home / "warehouse" / "segmart.duckdb", schemas=("marts",), tables=INCREMENTAL_MODELS
    )


def _query(home: Path, sql: str, params=()):
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _run(home: Path, dagster_home: Path, job: str = "segmart_no_checks", **kwargs):
    """The real job, unpartitioned, against the module's instance."""
    from pipelines.definitions import defs

    with home_env(home), dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        result = (
            defs()
            .resolve_job_def(job)
            .execute_in_process(instance=instance, raise_on_error=False, **kwargs)
        )
    assert result.success, f"{job} failed"
    return result


def _how_built(result) -> dict[str, str]:
    """{incremental model: its materialization's segmart/incremental metadata}; asserts no
    materialization of the run has a partition."""
    out = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_MATERIALIZATION":
            continue
        assert event.partition is None
        key = event.asset_key.to_user_string()
        if key in INCREMENTAL_MODELS:
            out[key] = event.event_specific_data.materialization.metadata[
                "segmart/incremental"
            ].value
    return out


def _full_refresh(home: Path, dagster_home: Path):
    result = _run(home, dagster_home, tags={"segmart/full_refresh": "true"})
    how = _how_built(result)
    assert set(how) == set(INCREMENTAL_MODELS)
    assert all(v == "full refresh: run tagged segmart/full_refresh=true" for v in how.values())
    return _snapshot(home)


def _restate(source: Path, target: Path) -> dict[tuple[str, str], float]:
    """A restated Meta report: the same file downloaded again later, every day row's spend
    revised (+10 %, to the cent). Returns {(campaign id, day): new spend}."""
    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    day, campaign = header.index("Day"), header.index("Campaign ID")
    spend = next(i for i, name in enumerate(header) if name.startswith("Amount spent"))
    revised = {}
    for row in rows[1:]:
        if row[day] and row[spend]:
            row[spend] = f"{float(row[spend]) * 1.1:.2f}"
            revised[(row[campaign], row[day])] = float(row[spend])
    with open(target, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    _age(target)
    return revised


def _reexport_line(source: Path, target: Path) -> dict[str, str]:
    """A Shopify export holding one earlier order again, a single-line order whose date moved
    four days later and whose price changed (an edited order). Returns its new values."""
    with open(source, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    name = header.index("Name")
    counts = pd.Series([r[name] for r in rows[1:]]).value_counts()
    row = next(r for r in rows[1:] if counts[r[name]] == 1 and r[header.index("Customer ID")])
    created = datetime.strptime(row[header.index("Created at")], "%Y-%m-%d %H:%M:%S %z")
    moved = (created + pd.Timedelta(days=4)).strftime("%Y-%m-%d %H:%M:%S %z")
    for column in ("Created at", "Paid at"):
        row[header.index(column)] = moved
    price = float(row[header.index("Lineitem price")]) + 7.0
    for column in ("Lineitem price", "Subtotal"):
        row[header.index(column)] = f"{price:.2f}"
    with open(target, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, row])
    _age(target)
    return {"order_id": row[name], "ordered_at": moved, "price": price}


def _login(template: dict, target: Path, user_pseudo_id: str, customer_id: str) -> None:
    """A GA4 export day (BigQuery's JSON-lines shape, ``template`` one of its real events)
    with one login of the device ``user_pseudo_id``, anonymous until then, as the shop's
    customer ``customer_id``."""
    event = dict(template)
    event["event_name"] = "login"
    event["event_date"] = "20250102"
    event["event_timestamp"] = str(int(datetime(2025, 1, 2, 9, tzinfo=UTC).timestamp() * 1e6))
    event["user_pseudo_id"] = user_pseudo_id
    event["user_id"] = customer_id
    with gzip.open(target, "wt") as f:
        f.write(json.dumps(event) + "\n")
    _age(target)


@pytest.fixture(scope="module")
def rounds(tmp_path_factory):
    """The base run, then each round's incremental run and a full refresh after it."""
    from pipelines.generate import generate

    root = tmp_path_factory.mktemp("incremental")
    source = root / "generated"
    generate(source, scale=0.01, seed=11)
    ga4 = [source / f"web/ga4/events_{day}.jsonl.gz" for day in (LATE_DAY, NEW_DAY)]
    assert all(p.exists() for p in ga4), "the generator should write both GA4 days"
    home, dagster_home = root / "home", root / "dagster_home"
    dagster_home.mkdir()
    held = [p.name for p in ga4] + [Path(ORDERS_FILE).name, Path(NPS_FILE).name]
    shutil.copytree(source, home / "landing" / "demo", ignore=shutil.ignore_patterns(*held))
    out = {"home": home}

    # the base run: no record yet, so a full refresh
    base = _run(home, dagster_home)
    out["base_how"] = _how_built(base)
    out["base_events"] = _query(home, "select count(*) from intermediate.int_events_sourced")[0][0]
    out["base_loaded_at"] = _query(
        home, "select max(ingested_at) from intermediate.int_events_sourced"
    )[0][0]

    # round 1: a late day and a new day of events, a month of orders
    _land(source, home, [*ga4, source / ORDERS_FILE])
    first = _run(home, dagster_home)
    out["round1_how"] = _how_built(first)
    out["round1"] = _snapshot(home)
    out["round1_full"] = _full_refresh(home, dagster_home)

    # round 2: a restated ad report, a re-exported order line, an identity change, NPS
    demo = home / "landing" / "demo"
    out["revised_spend"] = _restate(
        source / META_REPORT, demo / (Path(META_REPORT).stem + " (1).csv")
    )
    out["moved_line"] = line = _reexport_line(
        source / OLD_ORDERS, demo / "crm/shopify/orders_export_23 (edited).csv"
    )
    customer = _query(
        home,
        "select customer_id from intermediate.int_order_lines_converted where order_id = ?",
        [line["order_id"]],
    )[0][0]
    pseudo_id = _query(
        home,
        "select user_pseudo_id from intermediate.int_events_sourced"
        " where event_at < '2024-12-01' group by 1 order by count(*) desc, 1 limit 1",
    )[0][0]
    out["login"] = {"customer_id": customer, "user_pseudo_id": pseudo_id}
    with gzip.open(source / f"web/ga4/events_{NEW_DAY}.jsonl.gz", "rt") as f:
        template = json.loads(f.readline())
    _login(template, demo / "web/ga4/events_20250102.jsonl.gz", pseudo_id, customer)
    out["person_before"] = _query(
        home,
        "select distinct person_key from marts.fct_sessions where user_pseudo_id = ?",
        [pseudo_id],
    )
    _land(source, home, [source / NPS_FILE])
    second = _run(home, dagster_home, job="segmart_full")  # with every check, this time
    out["round2_checks"] = check_results(second)
    out["round2_how"] = _how_built(second)
    out["round2"] = _snapshot(home)
    out["person_after"] = _query(
        home,
        "select distinct person_key from marts.fct_sessions where user_pseudo_id = ?",
        [pseudo_id],
    )
    out["round2_full"] = _full_refresh(home, dagster_home)
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("incremental_run")
def test_the_first_run_is_a_full_refresh_and_the_next_ones_incremental(rounds):
    assert set(rounds["base_how"]) == set(INCREMENTAL_MODELS)
    for how in rounds["base_how"].values():
        assert how == "full refresh: no record of an earlier incremental build"
    for name in ("round1_how", "round2_how"):
        assert rounds[name] == dict.fromkeys(INCREMENTAL_MODELS, LOADED_SINCE)


@pytest.mark.slow
@pytest.mark.xdist_group("incremental_run")
def test_a_late_day_and_a_new_day_equal_a_full_refresh(rounds):
    incremental, full = rounds["round1"], rounds["round1_full"]
    assert {"fct_sessions", "fct_orders", "kpi_channel_daily", *INCREMENTAL_MODELS} <= set(full)
    assert snapshot_diff(incremental, full) == {}
    # the two GA4 days and the December orders reached the incremental models
    columns = incremental["int_sessions"][0]
    dates = {str(row[columns.index("session_date")]) for row in incremental["int_sessions"][1]}
    assert {"2024-12-29", "2024-12-31"} <= dates
    columns = incremental["int_order_lines_converted"][0]
    months = {
        str(row[columns.index("order_date")])[:7]
        for row in incremental["int_order_lines_converted"][1]
    }
    assert "2024-12" in months


@pytest.mark.slow
@pytest.mark.xdist_group("incremental_run")
def test_a_restated_report_a_reexported_line_and_an_identity_change_equal_a_full_refresh(rounds):
    incremental, full = rounds["round2"], rounds["round2_full"]
    assert snapshot_diff(incremental, full) == {}
    # the dbt tests of every model and the reconciliations pass on the incremental state (the
    # raw GX suites validate the ingest, which incremental builds do not touch)
    checks = {k: v for k, v in rounds["round2_checks"].items() if " :: gx_raw__" not in k}
    assert any("int_sessions :: " in k for k in checks)
    assert checks and all(checks.values()), {k: v for k, v in checks.items() if not v}
    home = rounds["home"]
    # the restated spend replaced the first download's, day by day
    got = dict(
        ((campaign, str(day)), spend)
        for campaign, day, spend in _query(
            home,
            "select campaign_id, spend_date, spend_original from marts.fct_ad_spend_daily"
            " where platform = 'meta_ads' and not is_prorated",
        )
    )
    revised = rounds["revised_spend"]
    assert revised and all(got[key] == pytest.approx(value) for key, value in revised.items())
    # the re-exported line: one version, on its new day, at its new price
    line = rounds["moved_line"]
    rows = _query(
        home,
        "select ordered_at, unit_price from intermediate.int_order_lines_converted"
        " where order_id = ?",
        [line["order_id"]],
    )
    moved = pd.Timestamp(line["ordered_at"]).tz_convert("UTC").tz_localize(None)
    assert [(pd.Timestamp(r[0]), r[1]) for r in rows] == [(moved, pytest.approx(line["price"]))]
    # the identity change: every session of the device is the customer's now
    before, after = rounds["person_before"], rounds["person_after"]
    assert len(after) == 1 and after != before
    customer_person = _query(
        home,
        "select distinct person_key from marts.fct_orders where customer_id = ?",
        [rounds["login"]["customer_id"]],
    )
    assert after == customer_person


def test_the_daily_schedule_runs_the_job_unpartitioned(tmp_path):
    from pipelines.definitions import defs

    with home_env(tmp_path):
        definitions = defs()
    schedule = definitions.resolve_schedule_def("daily_refresh")
    assert schedule.cron_schedule == "0 6 * * *"
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [None]
    assert schedule.job_name == "segmart_full"
    # no asset of the project is partitioned
    graph = definitions.resolve_asset_graph()
    assert [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def] == []
