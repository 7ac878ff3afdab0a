"""The real job with a new, unique PII key (issue 23.2, 23.4, 23.5), one run for the module.

A copy of the shared demo home (built with the test key) gets a new key and an ad export whose
campaign names are HTML payloads (tests/fixtures_xss.py), and the full job runs once as a full
refresh: a key rotation. Then

* the key (and the HMAC pads the engines get) is in no file the run left: home, warehouse,
  dbt target and logs, the Dagster instance (event log SQLite), Data Docs; no SQL stored in
  the warehouse reads the key, and every view opens on a plain connection without it;
* every hash in staging and in the incremental models is the HMAC of the new key, none of
  the old one (the rotation re-hashed everything);
* ``segmart forget`` works after the rotation (it finds people by address, not by hash);
* the payload campaign names land as text, are reported by the raw ad-spend check as JSON
  text, and no Data Docs page carries them as markup.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from pipelines.core.settings import DBT_PROJECT_DIR, PiiKey
from pipelines.privacy.forget import forget
from tests.fixtures_xss import LIVE_MARKUP, PAYLOADS, meta_export_with_payloads
from tests.pipeline.runner import home_env
from tests.shared_homes import demo_home, private_copy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pii_run")]

FULL_REFRESH_TAG = "segmart/full_refresh"


def _hmac(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def rotated(tmp_path_factory):
    """(home, old key, new key, run result): the demo home, built with the session's key
    (tests/conftest.py), re-run as a full refresh under a new key."""
    old_key = os.environ["SEGMART_PII_KEY"]
    home = private_copy(demo_home(tmp_path_factory), tmp_path_factory.mktemp("pii") / "home")
    landing = home / "landing" / "ads" / "meta"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "Segmart-Campaigns-Jun-1-2024-Jun-30-2024.csv").write_bytes(
        meta_export_with_payloads()
    )
    key = f"rotated-{uuid.uuid4().hex}"
    os.environ["SEGMART_PII_KEY"] = key
    try:
        from pipelines.definitions import defs

        with home_env(home):
            job = defs().resolve_job_def("segmart_full")
            with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
                result = job.execute_in_process(
                    instance=instance, tags={FULL_REFRESH_TAG: "true"}, raise_on_error=False
                )
    finally:
        os.environ["SEGMART_PII_KEY"] = old_key
    return home, old_key, key, result


def test_the_rotation_run_succeeds(rotated):
    *_, result = rotated
    errors = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
    assert result.success, errors


def _secrets(key: str) -> list[bytes]:
    """The key and the padded keys, as text and as the hex the engines receive."""
    ipad, opad = PiiKey(key.encode(), "env").pads()
    return [key.encode(), ipad, opad, ipad.hex().encode(), opad.hex().encode()]


def test_the_key_is_in_no_file_the_run_left(rotated):
    home, _, key, _ = rotated
    roots = [home, DBT_PROJECT_DIR / "target", DBT_PROJECT_DIR / "logs"]
    files = [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".msgpack" for p in files), "no partial_parse.msgpack searched"
    assert any(p.name == "dbt.log" for p in files), "no dbt.log searched"
    assert any(p.suffix == ".db" for p in (home / "dagster_home").rglob("*")), "no event log"
    assert not (home / "state" / "pii.key").exists()  # the env key wins: nothing generated
    needles = _secrets(key)
    leaks = [str(p) for p in files for n in needles if n in p.read_bytes()]
    assert not leaks, f"the PII key is written in: {leaks}"


def test_no_sql_stored_in_the_warehouse_needs_the_key(rotated):
    """Views store their SQL: none may read the key, and each opens on a plain connection
    (a BI reader's) without the plugin that hands it over."""
    home, _, key, _ = rotated
    for path in (home / "warehouse" / "segmart.duckdb", home / "serving" / "marts.duckdb"):
        with duckdb.connect(str(path), read_only=True) as con:
            stored = con.sql("select sql from duckdb_views() where not internal").fetchall()
            stored += con.sql("select sql from duckdb_tables()").fetchall()
            assert stored
            for (sql,) in stored:
                assert key not in sql and "getvariable" not in sql.lower(), sql[:300]
            views = con.sql(
                "select schema_name, view_name from duckdb_views() where not internal"
            ).fetchall()
            for schema, view in views:
                con.sql(f'select * from "{schema}"."{view}" limit 1').fetchall()
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        kinds = dict(
            con.sql(
                "select table_name, table_type from information_schema.tables "
                "where table_schema = 'staging'"
            ).fetchall()
        )
    for model in ("stg_crm__contacts", "stg_crm__leads", "stg_crm__orders", "stg_web__events"):
        assert kinds[model] == "BASE TABLE", model


def _raw(home: Path, entity: str) -> pd.DataFrame:
    files = [p for p in (home / "raw" / entity).glob("[!_]*.parquet")]
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def _emails(home: Path, entity: str) -> set[str]:
    values = _raw(home, entity)["email"].dropna().str.strip().str.lower()
    return {v for v in values if "@" in v[1:-1]}


@pytest.mark.parametrize(
    ("relation", "entity"),
    [
        ("staging.stg_crm__contacts", "contacts"),
        ("staging.stg_crm__orders", "orders"),
        ("intermediate.int_order_lines_converted", "orders"),
    ],
)
def test_every_hash_is_the_new_keys_hmac(rotated, relation, entity):
    home, old_key, key, _ = rotated
    emails = _emails(home, entity)
    new = {_hmac(key, e) for e in emails}
    old = {_hmac(old_key, e) for e in emails}
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        hashes = {h for (h,) in con.sql(f"select email_hash from {relation}").fetchall() if h}
    assert hashes, f"no e-mail hash in {relation}: the check would prove nothing"
    assert hashes <= new
    assert not hashes & old


def test_forget_works_after_the_rotation(rotated, tmp_path):
    home, old_key, key, _ = rotated
    address = sorted(_emails(home, "contacts"))[0]
    before = sum(_raw(home, "contacts")["email"].str.strip().str.lower().eq(address))
    os.environ["SEGMART_PII_KEY"] = key
    try:
        report = forget(home, address.upper())
    finally:
        os.environ["SEGMART_PII_KEY"] = old_key
    assert report.email_hash == _hmac(key, address)
    assert report.rows_removed and before >= 1
    assert not _raw(home, "contacts")["email"].str.strip().str.lower().eq(address).any()
    assert address not in (home / "state" / "erasures.jsonl").read_text()


def test_payloads_stay_text_in_data_docs_and_check_metadata(rotated):
    home, *_, result = rotated
    raw = _raw(home, "ad_spend_daily")
    assert set(PAYLOADS) <= set(raw["campaign_name"])  # landed as they are, as text
    # the raw ad-spend check reports the payload campaigns (more clicks than impressions) by
    # their key, as JSON text in the check's metadata
    [evaluation] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key.to_user_string() == "ads/ad_spend_daily"
        and "results" in e.event_specific_data.metadata
        and e.event_specific_data.metadata["suite"].value == "raw__ad_spend_daily"
    ]
    keys = [
        key["campaign_id"]
        for outcome in evaluation.metadata["results"].value
        for key in outcome["failing_keys_sample"] or []
    ]
    assert set(PAYLOADS) <= set(keys)
    # Data Docs: no page carries a payload as markup (GX shows no failing keys; the fields it
    # does render are covered by test_untrusted_text.py)
    pages = sorted((home / "serving" / "quality").rglob("*.html"))
    assert any("raw__ad_spend_daily" in p.name for p in pages)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for raw_text in (*LIVE_MARKUP, *PAYLOADS):
            assert raw_text not in text, f"{raw_text!r} rendered as markup in {page}"
