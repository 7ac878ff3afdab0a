"""Mapping ergonomics (issue 19.2, 19.3) and one file feeding several entities (18.3).

Expected values are computed apart from the loader, with plain pandas on the landed files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from pipelines.ingest.loader import run_ingest
from pipelines.ingest.manifest import Manifest
from pipelines.privacy.forget import forget
from pipelines.quality.reconcile import landing_to_raw
from pipelines.settings import home_paths
from tests.ingest.conftest import land, raw

MAVEN = "maven_crm_sales_opportunities"

# A second reading of Maven's sales_pipeline.csv (the shipped maven_crm_sales_pipeline mapping
# reads it as opportunities): the accounts its deals name.
ACCOUNTS_FROM_DEALS = """
name: maven_accounts_from_deals
entity: accounts
source_system: maven_crm
reading: additional
match:
  filename: ["*sales_pipeline*"]
  columns: [opportunity_id, account]
columns:
  account_id: account
  account_name: account
  customer_type: {const: B2B}
"""


def _home(tmp_path: Path) -> Path:
    (tmp_path / "landing").mkdir()
    (tmp_path / "mappings").mkdir()
    return tmp_path


def _records(home: Path) -> list[dict]:
    return Manifest(home / "manifest").records()


# ---------------------------------------------------------------- one file, several entities


def test_one_file_feeds_two_entities_through_two_mappings(tmp_path, shared_fixtures):
    home = _home(tmp_path)
    (home / "mappings" / "accounts_from_deals.yaml").write_text(ACCOUNTS_FROM_DEALS)
    source = shared_fixtures / MAVEN / "sales_pipeline.csv"
    shutil.copyfile(source, home / "landing" / "sales_pipeline.csv")
    deals = pd.read_csv(source, dtype=str, keep_default_na=False)

    report = run_ingest(home)

    by_entity = {f.entity: f for f in report.files}
    assert set(by_entity) == {"opportunities", "accounts"}
    opp, acc = by_entity["opportunities"], by_entity["accounts"]
    assert (opp.status, opp.mapping, opp.reading) == (
        "loaded",
        "maven_crm_sales_pipeline",
        "primary",
    )
    assert (acc.status, acc.mapping, acc.reading) == (
        "loaded",
        "maven_accounts_from_deals",
        "additional",
    )
    # every row read by each reading, and reconciled per reading
    for f in (opp, acc):
        assert f.rows_read == len(deals) == f.rows_loaded + f.rows_quarantined
    # accounts: a deal without an account (open deals in Maven) has no account_id → quarantine
    has_account = deals["account"].str.strip() != ""
    assert acc.rows_loaded == int(has_account.sum())
    assert acc.rows_quarantined == int((~has_account).sum()) > 0
    accounts = raw(home, "accounts")
    assert sorted(accounts["account_id"].unique()) == sorted(
        deals.loc[has_account, "account"].unique()
    )
    # lineage: both raw tables point at the same landed file and row numbers
    opps = raw(home, "opportunities")
    assert set(accounts["_file_hash"]) == set(opps["_file_hash"]) == {opp.file_hash}
    assert set(accounts["_source_file"]) == {"sales_pipeline.csv"}
    assert set(accounts["_mapping"]) == {"maven_accounts_from_deals"}
    # one manifest record per (file, entity); the quality gate's reconciliation agrees
    records = _records(home)
    assert sorted((r["entity"], r.get("reading")) for r in records) == [
        ("accounts", "additional"),
        ("opportunities", "primary"),
    ]
    for entity in ("accounts", "opportunities"):
        rec = landing_to_raw(home_paths(home), entity)
        assert rec.passed, rec.failing
        assert rec.expected == len(deals)

    # exactly once per (file, entity): nothing more on the next run, even under a new name
    again = run_ingest(home)
    assert (again.files, again.unchanged) == ([], 1)
    shutil.copyfile(source, home / "landing" / "sales_pipeline (1).csv")
    third = run_ingest(home)
    assert [f.status for f in third.files] == ["skipped_duplicate"]
    assert len(raw(home, "accounts")) == acc.rows_loaded


def test_a_new_additional_mapping_reads_files_already_loaded(tmp_path, shared_fixtures):
    """Deals loaded first; the accounts reading added later loads them once, next run."""
    home = _home(tmp_path)
    source = shared_fixtures / MAVEN / "sales_pipeline.csv"
    shutil.copyfile(source, home / "landing" / "sales_pipeline.csv")
    first = run_ingest(home)
    assert [(f.entity, f.status) for f in first.files] == [("opportunities", "loaded")]
    opp_raw = (home / "raw" / "opportunities").stat().st_mtime_ns

    (home / "mappings" / "accounts_from_deals.yaml").write_text(ACCOUNTS_FROM_DEALS)
    second = run_ingest(home)
    assert [(f.entity, f.status) for f in second.files] == [("accounts", "loaded")]
    deals = pd.read_csv(source, dtype=str, keep_default_na=False)
    assert second.files[0].rows_loaded == int((deals["account"].str.strip() != "").sum())
    assert (home / "raw" / "opportunities").stat().st_mtime_ns == opp_raw  # not re-read
    assert run_ingest(home).files == []


CONTACTS_CSV = """Email,First Name,Company,Lead Source,Created
ann@acme.io,Ann,Acme,webinar,2024-03-01
bob@beta.io,Bob,Beta,ads,2024-03-02
cy@acme.io,Cy,Acme,,2024-03-03
"""

SIGNUPS = """
name: test_signups_contacts
entity: contacts
source_system: test_forms
match:
  filename: ["*signups*"]
  columns: [Email, First Name, Company]
columns:
  contact_id: Email
  email: Email
  first_name: First Name
  account_id: Company
---
name: test_signups_leads
entity: leads
source_system: test_forms
reading: additional
match:
  filename: ["*signups*"]
  columns: [Email, Lead Source]
columns:
  lead_id: Email
  email: Email
  lead_source: Lead Source
  created_at: {from: Created, format: "%Y-%m-%d"}
"""


def test_forget_erases_a_person_from_every_reading(tmp_path):
    home = _home(tmp_path)
    (home / "mappings" / "signups.yaml").write_text(SIGNUPS)
    land(home, "signups_march.csv", CONTACTS_CSV)
    report = run_ingest(home)
    assert sorted((f.entity, f.rows_loaded) for f in report.files) == [
        ("contacts", 3),
        ("leads", 3),
    ]

    erased = forget(home, "Bob@Beta.io")

    assert sorted(erased.rows_removed.values()) == [1, 1]  # one row in each raw table
    for entity in ("contacts", "leads"):
        assert "bob@beta.io" not in set(raw(home, entity)["email"])
        assert len(raw(home, entity)) == 2
        rec = landing_to_raw(home_paths(home), entity)
        assert rec.passed, rec.failing
    assert erased.landing_files == ["signups_march.csv"]


# ---------------------------------------------------------------- retried after a mapping change


def test_no_mapping_file_loads_on_the_next_run_after_a_mapping_is_added(tmp_path):
    home = _home(tmp_path)
    path = land(home, "signups_march.csv", CONTACTS_CSV)
    first = run_ingest(home)
    assert [(f.status, f.entity) for f in first.files] == [("rejected", None)]
    assert "no mapping matches" in first.files[0].reason
    assert len(list((home / "rejected").glob("*.reason.txt"))) == 1
    assert first.files[0].mappings_hash  # the manifest records the mapping set's hash

    assert run_ingest(home).files == []  # same mappings: not retried, not re-hashed

    (home / "mappings" / "signups.yaml").write_text(SIGNUPS)
    second = run_ingest(home)  # no manifest file deleted by hand
    expected = pd.read_csv(path, dtype=str)
    assert sorted((f.entity, f.status, f.rows_loaded) for f in second.files) == [
        ("contacts", "loaded", len(expected)),
        ("leads", "loaded", len(expected)),
    ]
    assert sorted(raw(home, "contacts")["email"]) == sorted(expected["Email"])
    assert list((home / "rejected").iterdir()) == []  # no longer rejected
    records = _records(home)
    assert {r["status"] for r in records} == {"loaded"}
    assert len({r["mappings_hash"] for r in records}) == 1
    assert (
        json.loads((home / "manifest" / f"{second.files[0].file_hash}.json").read_text())["entity"]
        == "contacts"
    )
