"""Mapping ergonomics (issue 19.2, 19.3) and one file feeding several entities (18.3).

Expected values are computed apart from the loader, with plain pandas on the landed files.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.core.manifest import Manifest
from pipelines.core.settings import home_paths
from pipelines.ingest.assets import scan_landing
from pipelines.ingest.check import check_file
from pipelines.ingest.draft import sniff_formats
from pipelines.ingest.loader import run_ingest
from pipelines.ingest.mapping import SHIPPED_DIR, load_mapping_set
from pipelines.ingest.validate import validate_mappings
from pipelines.privacy.forget import forget
from pipelines.quality.reconcile import landing_to_raw
from tests.ingest.conftest import ORDERS_MAPPING, land, raw

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


# ---------------------------------------------------------------- a bad mapping beside good files

GOOD_ORDERS = """order_ref,ordered_on,amount,email
A1,01/03/2024,10.50,ann@example.com
A2,02/03/2024,20.00,bob@example.com
"""

# (YAML, the key the error must name, a word of what is allowed)
BAD_MAPPINGS = {
    "multi-character delimiter": (
        "reader: {delimiter: '||'}\ncolumns: {order_id: id}",
        "reader.delimiter",
        "one character",
    ),
    "unknown canonical column": (
        "columns: {order_id: id, revenue: total}",
        "columns.revenue",
        "net_amount",
    ),
    "bad expression": (
        "columns: {order_id: id, net_amount: {expr: 'no_such_function(quantity)'}}",
        "columns.net_amount.expr",
        "scalar",
    ),
    "statement as expression": (
        "columns: {order_id: id, net_amount: {expr: 'quantity; drop table x'}}",
        "columns.net_amount.expr",
        "scalar",
    ),
    "bad date format": (
        "columns: {order_id: id, ordered_at: {from: day, format: '%Y-%Q-%d'}}",
        "columns.ordered_at.format",
        "%Y-%m-%d",
    ),
    "unknown reader option": (
        "reader: {separator: ';'}\ncolumns: {order_id: id}",
        "reader.separator",
        "delimiter",
    ),
    "unknown encoding": (
        "reader: {encoding: utf-9}\ncolumns: {order_id: id}",
        "reader.encoding",
        "utf-8",
    ),
    "unknown time zone": (
        "timezone: Europe/Atlantis\ncolumns: {order_id: id}",
        "timezone",
        "IANA",
    ),
    "bad regex": (
        "columns: {order_id: {from_regex: '(unclosed'}}",
        "columns.order_id.from_regex",
        "regex",
    ),
    "unknown unit": (
        "columns: {order_id: id, net_amount: {from: total, unit: pennies}}",
        "columns.net_amount.unit",
        "cents",
    ),
    "unknown top-level key": (
        "colums: {order_id: id}\ncolumns: {order_id: id}",
        "colums",
        "columns",
    ),
}


def _bad_mapping(body: str) -> str:
    return (
        "name: my_shop_orders\nentity: orders\nsource_system: my_shop\n"
        "match: {filename: ['*shop_orders*'], columns: [id]}\n" + body + "\n"
    )


@pytest.mark.parametrize("case", sorted(BAD_MAPPINGS))
def test_a_bad_mapping_rejects_only_its_files_with_one_line_naming_file_and_key(tmp_path, case):
    body, key, allowed = BAD_MAPPINGS[case]
    home = _home(tmp_path)
    (home / "mappings" / "test_orders.yaml").write_text(ORDERS_MAPPING)
    bad = home / "mappings" / "my_shop.yaml"
    bad.write_text(_bad_mapping(body))
    land(home, "shop_orders_2024-06.csv", "id||total\n1||2\n")
    land(home, "orders_march.csv", GOOD_ORDERS)

    report = run_ingest(home)  # no exception: the run goes on

    by_file = {f.file: f for f in report.files}
    good = by_file["orders_march.csv"]
    assert (good.status, good.rows_loaded) == ("loaded", len(pd.read_csv(StringIO(GOOD_ORDERS))))
    rejected = by_file["shop_orders_2024-06.csv"]
    assert rejected.status == "rejected"
    [line] = report.invalid_mappings
    assert "\n" not in line
    assert line.startswith(f"{bad}: mapping 'my_shop_orders': {key}:"), line
    assert allowed in line.split("(allowed:")[-1], line
    assert line in rejected.reason and rejected.reason.startswith("shop_orders_2024-06.csv: ")
    [reason_file] = (home / "rejected").glob("*.reason.txt")
    assert line in reason_file.read_text()
    # the same line from `segmart mappings validate`, exit 1
    out = CliRunner().invoke(main, ["mappings", "validate", str(bad)])
    assert out.exit_code == 1
    assert line in out.output.splitlines()


def test_a_fixed_mapping_loads_the_file_it_rejected(tmp_path):
    home = _home(tmp_path)
    bad = home / "mappings" / "my_shop.yaml"
    bad.write_text(_bad_mapping("reader: {delimiter: '||'}\ncolumns: {order_id: id}"))
    path = land(home, "shop_orders_2024-06.csv", "id;day;total\n1;2024-06-01;2\n2;2024-06-02;3\n")
    first = run_ingest(home)
    assert [f.status for f in first.files] == ["rejected"]
    checked = check_file(path, home)  # `mappings check` says the same, exit 2
    assert checked.exit_code == 2
    assert checked.error == first.files[0].reason.removeprefix(f"{path.name}: ")
    assert checked.error.startswith(f"invalid mapping: {bad}: mapping 'my_shop_orders'")

    bad.write_text(
        _bad_mapping(
            "reader: {delimiter: ';'}\ncolumns:\n  order_id: id\n  order_line_id: {const: '1'}\n"
            "  ordered_at: {from: day, format: '%Y-%m-%d'}\n  net_amount: total\n"
        )
    )
    second = run_ingest(home)
    assert [(f.status, f.rows_loaded, f.rows_quarantined) for f in second.files] == [
        ("loaded", 2, 0)
    ]
    assert raw(home, "orders")["net_amount"].tolist() == [2.0, 3.0]
    assert list((home / "rejected").iterdir()) == []


def test_every_shipped_mapping_is_valid():
    mset, errors = validate_mappings(None)
    assert errors == []
    assert len(mset.mappings) == len(load_mapping_set(None).mappings) > 10


# ---------------------------------------------------------------- finding the right mapping


def _shipped(name: str) -> dict:
    for path in sorted(SHIPPED_DIR.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("name") == name:
                return doc
    raise AssertionError(f"no shipped mapping {name}")


def test_check_shows_the_closest_mappings_and_what_each_misses(tmp_path, shared_fixtures):
    """Maven's deals export saved under another name: no mapping matches, and `check` says
    the Maven mapping misses no column, only the file name."""
    home = _home(tmp_path)
    path = home / "landing" / "crm_deals_export.csv"
    shutil.copyfile(shared_fixtures / MAVEN / "sales_pipeline.csv", path)
    # header names match case-, space- and underscore-insensitively (README)
    header = {" ".join(c.replace("_", " ").lower().split()) for c in pd.read_csv(path, nrows=0)}

    def lacking(columns: list[str]) -> list[str]:
        return [c for c in columns if " ".join(c.replace("_", " ").lower().split()) not in header]

    out = CliRunner().invoke(main, ["mappings", "check", str(path), "--home", str(home)])

    assert out.exit_code == 2, out.output
    result = check_file(path, home)
    name, entity, missing, name_fits = result.closest[0]
    maven = _shipped("maven_crm_sales_pipeline")
    assert (name, entity) == ("maven_crm_sales_pipeline", maven["entity"])
    assert missing == lacking(maven["match"]["columns"]) == []
    assert name_fits is False
    hubspot = _shipped("hubspot_ui_deals")  # another deals mapping: what it lacks, by name
    lacks = lacking(hubspot["match"]["columns"])
    assert lacks  # it needs columns this export does not have
    assert ("hubspot_ui_deals", "opportunities", lacks, True) in result.closest
    assert "closest mappings (header columns each one misses):" in out.output
    assert (
        "  maven_crm_sales_pipeline → opportunities: misses none; the file name does not fit "
        "its `match.filename`" in out.output
    )
    assert f"  hubspot_ui_deals → opportunities: misses {', '.join(lacks)}" in out.output
    assert "segmart mappings new FILE" in out.output


def test_check_exits_non_zero_when_every_row_would_be_quarantined(tmp_path):
    home = _home(tmp_path)
    (home / "mappings" / "test_orders.yaml").write_text(ORDERS_MAPPING)
    good = land(home, "orders_march.csv", GOOD_ORDERS)
    # the same export with ISO dates, which the mapping's %d/%m/%Y does not read: all bad
    iso = land(home, "orders_april.csv", GOOD_ORDERS.replace("01/03/2024", "2024-03-01"))
    iso.write_text(iso.read_text().replace("02/03/2024", "2024-03-02"))
    rows = len(pd.read_csv(good))

    ok = CliRunner().invoke(main, ["mappings", "check", str(good), "--home", str(home)])
    bad = CliRunner().invoke(main, ["mappings", "check", str(iso), "--home", str(home)])

    assert ok.exit_code == 0, ok.output
    assert f"rows:     read {rows}, would load {rows}, would quarantine 0" in ok.output
    assert bad.exit_code == 1, bad.output
    assert f"rows:     read {rows}, would load 0, would quarantine {rows}" in bad.output
    assert "every row would be quarantined" in bad.output


def test_check_lists_every_reading_of_a_file(tmp_path):
    home = _home(tmp_path)
    (home / "mappings" / "signups.yaml").write_text(SIGNUPS)
    path = land(home, "signups_march.csv", CONTACTS_CSV)
    result = check_file(path, home)
    assert (result.mapping, result.entity, result.rows_loaded) == (
        "test_signups_contacts",
        "contacts",
        3,
    )
    [leads] = result.readings
    assert (leads.mapping, leads.entity, leads.additional, leads.rows_loaded) == (
        "test_signups_leads",
        "leads",
        True,
        3,
    )
    assert result.exit_code == 0
    assert "also read by a `reading: additional` mapping:" in str(result)


def test_mappings_new_drafts_a_mapping_that_validates_and_loads(tmp_path, shared_fixtures):
    """A deals export no mapping matches → a draft from its header → validate → it loads."""
    home = _home(tmp_path)
    path = home / "landing" / "crm_deals_export.csv"
    shutil.copyfile(shared_fixtures / MAVEN / "sales_pipeline.csv", path)
    assert [f.status for f in run_ingest(home).files] == ["rejected"]  # no mapping yet

    out = CliRunner().invoke(main, ["mappings", "new", str(path), "--home", str(home)])
    assert out.exit_code == 0, out.output
    draft = home / "mappings" / "drafts" / "crm_deals_export.yaml"
    spec = yaml.safe_load(draft.read_text())
    assert spec["entity"] == "opportunities"  # guessed; the user confirms it
    assert spec["columns"]["opportunity_id"] == "opportunity_id"
    assert spec["columns"]["created_at"] == {"from": "engage_date", "format": "%Y-%m-%d"}
    assert spec["match"]["filename"] == ["*crm_deals_export*.csv"]
    assert "TODO" in draft.read_text()
    assert load_mapping_set(home).mappings.keys() == load_mapping_set(None).mappings.keys()
    checked = CliRunner().invoke(main, ["mappings", "validate", str(draft)])
    assert checked.exit_code == 0, checked.output
    rows = len(pd.read_csv(path))
    tried = CliRunner().invoke(
        main, ["mappings", "check", str(path), "--home", str(home), "--mapping", str(draft)]
    )
    assert tried.exit_code == 0, tried.output
    assert f"mapping:  {spec['name']} → opportunities" in tried.output
    assert f"rows:     read {rows}, would load {rows}, would quarantine 0" in tried.output

    draft.rename(home / "mappings" / draft.name)  # finished: put it to use
    [result] = run_ingest(home).files  # retried: the mapping set changed
    deals = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert (result.status, result.mapping, result.entity) == (
        "loaded",
        spec["name"],
        "opportunities",
    )
    assert result.rows_read == result.rows_loaded == len(deals)
    opps = raw(home, "opportunities")
    assert sorted(opps["opportunity_id"]) == sorted(deals["opportunity_id"])
    amounts = pd.to_numeric(deals["close_value"].replace("", None))
    assert opps["amount"].sum() == pytest.approx(amounts.sum())
    assert int(opps["created_at"].isna().sum()) == int((deals["engage_date"] == "").sum())


def test_mappings_new_with_the_entity_given_and_no_overwrite(tmp_path, shared_fixtures):
    home = _home(tmp_path)
    path = home / "landing" / "crm_deals_export.csv"
    shutil.copyfile(shared_fixtures / MAVEN / "sales_pipeline.csv", path)
    args = ["mappings", "new", str(path), "--home", str(home), "--entity", "accounts"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    draft = home / "mappings" / "drafts" / "crm_deals_export.yaml"
    spec = yaml.safe_load(draft.read_text())
    assert (spec["entity"], spec["columns"]["account_id"]) == ("accounts", "account")
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--force" in again.output


@pytest.mark.parametrize(
    ("values", "formats", "undecided"),
    [
        # Online Retail II writes US dates with a time; 12/13 settles the order
        (["12/1/2010 8:26", "12/13/2010 10:05"], ["%m/%d/%Y %H:%M"], False),
        # the same with a two-digit year never parses under %Y
        (["12/1/10 8:26", "1/13/11 9:00"], ["%m/%d/%y %H:%M"], False),
        (["01/02/2024", "03/04/2024"], ["%d/%m/%Y"], True),  # either order fits: said so
        (["Jun 1, 2024", "Jun 30, 2024"], ["%b %d, %Y"], False),
        (["2024-06-01", "2024-06-02 10:00:00"], ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d"], False),
        # year first is year-month-day: never reported as undecided
        (["2024-06-01 10:00:00", "2024-06-02 11:30:00"], ["%Y-%m-%d %H:%M:%S"], False),
    ],
)
def test_date_formats_are_sniffed_from_the_values(values, formats, undecided):
    found, note = sniff_formats(values, with_time=True)
    assert found == formats
    assert bool(note) == undecided
    for fmt in found:  # every value parses under one of them, as the loader will read it
        assert all(any(_parses(v, f) for f in found) for v in values), fmt


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def test_a_run_of_some_entities_leaves_the_other_readings_for_later(tmp_path):
    """Dagster may materialise only some raw assets: a reading of another entity waits."""
    home = _home(tmp_path)
    (home / "mappings" / "signups.yaml").write_text(SIGNUPS)
    land(home, "signups_march.csv", CONTACTS_CSV)
    first = run_ingest(home, entities=["contacts"])
    assert [(f.entity, f.status) for f in first.files] == [("contacts", "loaded")]
    assert raw(home, "leads").empty
    second = run_ingest(home)
    assert [(f.entity, f.status, f.rows_loaded) for f in second.files] == [("leads", "loaded", 3)]
    assert run_ingest(home).files == []


def test_the_landing_sensor_asks_for_a_run_when_a_mapping_change_concerns_a_file(tmp_path):
    home = _home(tmp_path)
    path = land(home, "signups_march.csv", CONTACTS_CSV)
    later = path.stat().st_mtime + 3600
    paths = home_paths(home).ensure()
    ready, cursor = scan_landing(paths, {}, stable_seconds=10, now=later)
    assert [r[0] for r in ready] == ["signups_march.csv"]  # new
    assert [f.status for f in run_ingest(home).files] == ["rejected"]
    ready, cursor = scan_landing(paths, cursor, stable_seconds=10, now=later)
    assert ready == []  # rejected under these mappings: nothing to do

    (home / "mappings" / "signups.yaml").write_text(SIGNUPS)
    ready, cursor = scan_landing(paths, cursor, stable_seconds=10, now=later)
    assert [r[0] for r in ready] == ["signups_march.csv"]  # a retry under the new set
    assert scan_landing(paths, cursor, stable_seconds=10, now=later)[0] == []  # asked once
    assert {f.status for f in run_ingest(home).files} == {"loaded"}
    assert scan_landing(paths, {}, stable_seconds=10, now=later)[0] == []
