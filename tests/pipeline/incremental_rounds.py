"""Shared steps of the incremental-run tests (test_partitions*.py): a small generated home run
by the real Dagster job, new landing files in the shapes real downloads have, and snapshots of
every mart to compare an incremental run with a full refresh of the same landing."""

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

from tests.pipeline.runner import home_env
from tests.reliability.pipeline_home import snapshot

NEW_DAY = "20241231"
LATE_DAY = "20241229"
ORDERS_FILE = "crm/shopify/orders_export_24.csv"  # December 2024: lands in round 1
NPS_FILE = "crm/nps/delighted-responses-2025-01-01.csv"  # lands in round 2
META_REPORT = "ads/meta_ads/Segmart-Demo-Campaigns-Nov-1-2024-Nov-30-2024.csv"
OLD_ORDERS = "crm/shopify/orders_export_23.csv"  # November 2024: re-exported line from it
INCREMENTAL = (
    "stg_web__events",
    "int_events_sourced",
    "int_events_channeled",
    "int_sessions",
    "int_touchpoints",
)
INCREMENTAL_ORDERS = ("int_order_lines_converted",)
INCREMENTAL_MODELS = INCREMENTAL + INCREMENTAL_ORDERS
LOADED_SINCE = "rows loaded since the last build"


def generated(root: Path) -> tuple[Path, list[Path]]:
    """The demo generator's small landing (scale 0.01, seed 11) and its two GA4 days."""
    from generator import generate

    source = root / "generated"
    generate(source, scale=0.01, seed=11)
    ga4 = [source / f"web/ga4/events_{day}.jsonl.gz" for day in (LATE_DAY, NEW_DAY)]
    assert all(p.exists() for p in ga4), "the generator should write both GA4 days"
    return source, ga4


def new_home(root: Path, source: Path, held: list[str]) -> tuple[Path, Path]:
    """A home whose landing is ``source`` without the files named in ``held``."""
    home, dagster_home = root / "home", root / "dagster_home"
    dagster_home.mkdir()
    shutil.copytree(source, home / "landing" / "demo", ignore=shutil.ignore_patterns(*held))
    return home, dagster_home


def land(source: Path, home: Path, files: list[Path]) -> None:
    """Copy ``files`` into the home's landing, complete long ago (past the stability wait)."""
    for path in files:
        age(shutil.copy2(path, home / "landing" / "demo" / path.relative_to(source)))


def age(path) -> None:
    old = time.time() - 3600
    os.utime(path, (old, old))


def marts_snapshot(home: Path):
    """Every mart and the incremental intermediate models, rows in a canonical order."""
    return snapshot(
        home / "warehouse" / "segmart.duckdb", schemas=("marts",), tables=INCREMENTAL_MODELS
    )


def query(home: Path, sql: str, params=()):
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def run(home: Path, dagster_home: Path, job: str = "segmart_no_checks", **kwargs):
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


def how_built(result) -> dict[str, str]:
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


def full_refresh(home: Path, dagster_home: Path):
    """The job tagged segmart/full_refresh=true on the same home; the snapshot after it."""
    result = run(home, dagster_home, tags={"segmart/full_refresh": "true"})
    how = how_built(result)
    assert set(how) == set(INCREMENTAL_MODELS)
    assert all(v == "full refresh: run tagged segmart/full_refresh=true" for v in how.values())
    return marts_snapshot(home)


def restate(source: Path, target: Path) -> dict[tuple[str, str], float]:
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
    age(target)
    return revised


def rename_campaign(source: Path, target: Path, campaign_id: str, name: str, day: str) -> None:
    """A Meta Ads report of one later ``day`` (the shape of ``source``, a real download: the
    period columns, a summary row without Day, then the day rows) in which the campaign
    ``campaign_id`` runs under a new ``name``: the newest name of a campaign id is its name,
    so every touchpoint whose utm_campaign holds the id moves to the new campaign key."""
    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    col = {name: i for i, name in enumerate(header)}
    row = next(r for r in rows[1:] if r[col["Campaign ID"]] == campaign_id and r[col["Day"]])
    row = list(row)
    row[col["Reporting starts"]] = row[col["Reporting ends"]] = row[col["Day"]] = day
    row[col["Campaign name"]] = name
    summary = list(row)
    for column in ("Day", "Campaign name", "Campaign ID"):
        summary[col[column]] = ""
    with open(target, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, summary, row])
    age(target)


def move_contact(source: Path, target: Path, contact_ids: list[str], account_id: str) -> str:
    """A HubSpot contacts export (the shape of ``source``, a real download) holding again the
    first of ``contact_ids`` it has, now associated with the company ``account_id`` and
    modified later: the person's account moves. Returns the contact's id."""
    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    col = {name: i for i, name in enumerate(header)}
    by_id = {r[col["Record ID"]]: r for r in rows[1:]}
    contact = next(c for c in contact_ids if c in by_id)
    row = list(by_id[contact])
    row[col["Associated Company IDs"]] = account_id
    row[col["Last Modified Date"]] = "2025-01-02 09:00"
    with open(target, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, row])
    age(target)
    return contact


def reexport_line(source: Path, target: Path) -> dict[str, str]:
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
    age(target)
    return {"order_id": row[name], "ordered_at": moved, "price": price}


def login(template: dict, target: Path, user_pseudo_id: str, customer_id: str) -> None:
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
    age(target)
