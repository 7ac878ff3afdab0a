"""The demo generator: determinism, scale, documented shapes, coherence, reconciliation counts.

Expected values are recomputed from the written files with plain csv / json / pandas, never
taken from the generator's internals.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from generator import generate

SHAPES = Path(__file__).resolve().parents[2] / "generator" / "SHAPES.md"
SCALE = 0.01


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, scale=SCALE, seed=7)
    return out


@pytest.fixture(scope="module")
def expected(landing) -> dict:
    return json.loads((landing / "_expected.json").read_text())


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _csv(path: Path, skip: int = 0, encoding: str = "utf-8", sep: str = ",") -> pd.DataFrame:
    text = path.read_bytes().decode(encoding).lstrip("\ufeff")
    lines = text.splitlines(keepends=True)[skip:]
    return pd.read_csv(io.StringIO("".join(lines)), dtype=str, keep_default_na=False, sep=sep)


def _events(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


# -- determinism and scale -----------------------------------------------------------------


def test_same_seed_gives_identical_bytes(landing, tmp_path):
    generate(tmp_path / "again", scale=SCALE, seed=7)
    assert _digest(tmp_path / "again") == _digest(landing)


def test_other_seed_gives_other_data(landing, tmp_path):
    generate(tmp_path / "other", scale=SCALE, seed=8)
    a, b = _digest(landing), _digest(tmp_path / "other")
    changed = [k for k in a if a[k] != b.get(k)]
    assert len(changed) > 0.9 * len(a)


def test_volumes_scale_linearly(expected, tmp_path):
    generate(tmp_path / "triple", scale=3 * SCALE, seed=7)
    triple = json.loads((tmp_path / "triple" / "_expected.json").read_text())["entities"]
    small = expected["entities"]
    for entity in ("contacts", "leads", "orders", "events"):
        ratio = triple[entity]["valid_records"] / small[entity]["valid_records"]
        assert 2.4 < ratio < 3.6, (entity, ratio)
    # daily spend rows do not depend on scale: 20 campaigns x 731 days minus Meta's empty days
    assert triple["ad_spend_daily"]["valid_records"] <= 20 * 731


# -- documented shapes ---------------------------------------------------------------------


def _documented_patterns() -> list[re.Pattern]:
    text = SHAPES.read_text()
    section = text.split("## File list", 1)[1].split("\n## ", 1)[0]
    patterns = []
    for cell in re.findall(r"^\| `([^`]+)`", section, flags=re.M):
        for part in cell.split("`, `"):
            pieces = re.split(r"\{[^}]+\}", part)  # {YYYYMMDD}, {N}, ... are placeholders
            patterns.append(re.compile("[^/]+".join(map(re.escape, pieces)) + "$"))
    return patterns


def test_shapes_md_lists_every_written_file(landing):
    patterns = _documented_patterns()
    written = [str(p.relative_to(landing)) for p in landing.rglob("*") if p.is_file()]
    undocumented = [f for f in written if not any(p.match(f) for p in patterns)]
    assert undocumented == []


def _header_blocks() -> set[str]:
    blocks = re.findall(r"```\n(.*?)\n```", SHAPES.read_text(), flags=re.S)
    return {b.replace("\\t", "\t") for b in blocks if "\n" not in b}


@pytest.mark.parametrize(
    "pattern, skip, encoding",
    [
        ("crm/hubspot/*companies*.csv", 0, "utf-8"),
        ("crm/hubspot/*contacts*.csv", 0, "utf-8"),
        ("crm/hubspot/*deals*.csv", 0, "utf-8"),
        ("crm/salesforce/report*.csv", 0, "utf-8"),
        ("crm/shopify/orders_export_1.csv", 0, "utf-8"),
        ("crm/nps/*.csv", 0, "utf-8"),
        ("ads/google_ads/Campaign report 2023-01.csv", 2, "utf-8"),
        ("ads/meta_ads/*Jan-1-2023*.csv", 0, "utf-8-sig"),
        ("ads/linkedin_ads/*2023-01.csv", 5, "utf-16"),
        ("ads/tiktok_ads/*20230101-*.csv", 0, "utf-8"),
    ],
)
def test_header_lines_are_documented_verbatim(landing, pattern, skip, encoding):
    (path,) = landing.glob(pattern)
    header = path.read_bytes().decode(encoding).splitlines()[skip]
    assert header in _header_blocks()


def test_vendor_quirks(landing):
    meta = next((landing / "ads/meta_ads").iterdir()).read_bytes()
    assert meta.startswith(b"\xef\xbb\xbf")
    linkedin = next((landing / "ads/linkedin_ads").iterdir()).read_bytes()
    assert linkedin.startswith(b"\xff\xfe") and "\t" in linkedin.decode("utf-16")
    google = (landing / "ads/google_ads/Campaign report 2023-01.csv").read_text().splitlines()
    assert google[0] == "Campaign report"
    assert google[1] == '"January 1, 2023 - January 31, 2023"'
    assert [line.split(",")[0] for line in google[-2:]] == ["Total: Campaigns", "Total: Account"]
    twin = landing / "ads/google_ads/Campaign report 2024-06 (1).csv"
    assert (
        twin.read_bytes() == (landing / "ads/google_ads/Campaign report 2024-06.csv").read_bytes()
    )
    salesforce = (landing / "crm/salesforce/report1735689600000.csv").read_bytes()
    assert salesforce.endswith(
        b'"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."\r\n""\r\n'
    )


# -- coherence of the world ----------------------------------------------------------------


def _orders(landing: Path) -> pd.DataFrame:
    frames = [_csv(p) for p in sorted((landing / "crm/shopify").glob("orders_export_*.csv"))]
    return pd.concat(frames, ignore_index=True)


def _purchases(landing: Path) -> list[dict]:
    out = []
    for path in sorted((landing / "web/ga4").glob("events_*.jsonl.gz")):
        for line in _events(path):
            event = json.loads(line)
            if event.get("event_name") == "purchase":
                out.append(event)
    return out


def test_every_purchase_event_is_an_order_with_the_same_revenue(landing):
    orders = _orders(landing)
    first_rows = orders[orders["Created at"] != ""].set_index("Name")
    purchases = _purchases(landing)
    assert len(purchases) > 50
    for event in purchases:
        tid = event["ecommerce"]["transaction_id"]
        assert tid in first_rows.index, tid
        order = first_rows.loc[tid]
        assert event["ecommerce"]["purchase_revenue"] == pytest.approx(float(order["Subtotal"]))
        assert order["Source"] == "web"
        if "user_id" in event:
            assert event["user_id"] == order["Customer ID"]
        else:
            assert order["Customer ID"] == ""


def test_shopify_subtotal_is_the_sum_of_sale_lines(landing):
    orders = _orders(landing)
    orders = orders[orders["Lineitem price"] != "N/A"]
    qty = orders["Lineitem quantity"].astype(float)
    net = qty * orders["Lineitem price"].astype(float) - orders["Lineitem discount"].astype(float)
    sale_net = net[qty > 0].groupby(orders["Name"][qty > 0]).sum().round(2)
    subtotal = orders[orders["Subtotal"] != ""].set_index("Name")["Subtotal"].astype(float)
    pd.testing.assert_series_equal(
        sale_net.sort_index(), subtotal.sort_index(), check_names=False, atol=0.011
    )
    returned = net[qty < 0].groupby(orders["Name"][qty < 0]).sum().round(2)
    refunded = orders[orders["Refunded Amount"] != ""].set_index("Name")["Refunded Amount"]
    assert (refunded.astype(float)[returned.index] == -returned).all()


def test_crm_references_exist(landing):
    hub = landing / "crm/hubspot"
    companies = set(_csv(next(hub.glob("*companies*.csv")))["Record ID"])
    contacts = set(_csv(next(hub.glob("*contacts*.csv")))["Record ID"])
    deals = _csv(next(hub.glob("*deals*.csv")))
    deal_ids = set(deals["Record ID"])
    assert len(deals) > 20
    linked = deals["Associated Company IDs"][deals["Associated Company IDs"] != ""]
    assert set(linked) <= companies
    people = {c for ids in deals["Associated Contact IDs"] for c in ids.split(";") if c}
    assert people <= contacts
    renewals = deals["Renewal of Deal ID"][deals["Renewal of Deal ID"] != ""]
    assert set(renewals) <= deal_ids
    text = (landing / "crm/salesforce/report1735689600000.csv").read_text().split('\r\n""\r\n')[0]
    leads = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    converted = leads[leads["Converted"] == "1"]
    assert len(converted) > 5
    assert set(converted["Converted Account ID"]) <= companies
    assert set(converted["Converted Contact ID"]) <= contacts
    assert set(converted["Converted Opportunity ID"]) <= deal_ids


# -- reconciliation counts in _expected.json -----------------------------------------------

CSV_FILES = {
    # shape: (id column, date column, numeric columns, csv read options)
    "hubspot_companies": ("Record ID", "Create Date", ["Number of Employees"], {}),
    "hubspot_contacts": ("Record ID", "Create Date", [], {}),
    "hubspot_deals": ("Record ID", "Create Date", ["Amount"], {}),
    "delighted_nps": ("Response ID", "Created At", ["Score"], {}),
}


def _bad_reasons(df: pd.DataFrame, id_col: str, date_col: str, numeric: list[str]) -> Counter:
    reasons = Counter()
    dates = pd.to_datetime(df[date_col], errors="coerce", format="mixed", utc=True)
    for i, row in df.iterrows():
        if row[id_col] == "":
            reasons["missing_id"] += 1
        elif row[date_col] == "":
            reasons["missing_required"] += 1
        elif pd.isna(dates[i]):
            reasons["bad_date"] += 1
        elif any(row[c] and not re.fullmatch(r"-?\d+(\.\d+)?", row[c]) for c in numeric):
            reasons["bad_number"] += 1
        elif "Score" in row and row["Score"] and not 0 <= int(row["Score"]) <= 10:
            reasons["out_of_range"] += 1
    return reasons


@pytest.mark.parametrize("shape", sorted(CSV_FILES))
def test_expected_counts_match_crm_files(landing, expected, shape):
    id_col, date_col, numeric, _ = CSV_FILES[shape]
    [(rel, meta)] = [(k, v) for k, v in expected["files"].items() if v["shape"] == shape]
    df = _csv(landing / rel)
    assert meta["data_rows"] == len(df)
    assert meta["duplicate_rows"] == int(df.duplicated().sum())
    assert meta["bad_reasons"] == dict(_bad_reasons(df, id_col, date_col, numeric))
    assert meta["bad_rows"] == sum(meta["bad_reasons"].values())


def test_expected_counts_match_ga4_files(landing, expected):
    ga4 = {k: v for k, v in expected["files"].items() if v["shape"] == "ga4_bigquery_export"}
    assert len(ga4) >= 731
    totals = Counter()
    for rel, meta in ga4.items():
        lines = _events(landing / rel)
        file_date = rel.split("_")[-1][:8]
        counts = Counter(lines)
        events = [json.loads(line) for line in lines]
        bad = Counter()
        for e in events:
            if "event_name" not in e:
                bad["missing_required"] += 1
            elif not e["event_timestamp"].isdigit():
                bad["bad_date"] += 1
        assert meta["data_rows"] == len(lines), rel
        assert meta["duplicate_rows"] == sum(n - 1 for n in counts.values()), rel
        assert meta["late_rows"] == sum(e["event_date"] < file_date for e in events), rel
        assert meta["bad_reasons"] == dict(bad), rel
        totals.update(bad)
    assert totals["missing_required"] + totals["bad_date"] >= 2


def test_expected_counts_match_shopify_and_ads(landing, expected):
    for rel, meta in expected["files"].items():
        path = landing / rel
        if meta["shape"] == "shopify_orders_export":
            df = _csv(path)
            assert meta["data_rows"] == len(df)
            bad_price = int((df["Lineitem price"] == "N/A").sum())
            bad_date = int((df["Created at"] == "0000-00-00 00:00:00").sum())
            assert meta["bad_reasons"] == {
                k: v for k, v in (("bad_date", bad_date), ("bad_number", bad_price)) if v
            }
        elif meta["shape"] == "tiktok_ads_manager":
            assert meta["data_rows"] == len(_csv(path))
        elif meta["shape"] == "google_ads_ui_report":
            df = _csv(path, skip=2)
            assert meta["data_rows"] == int((~df["Day"].str.startswith("Total:")).sum())
            assert meta["summary_rows"] == 2
            assert meta["bad_rows"] == int((df["Campaign ID"] == " --").sum()) - 2
        elif meta["shape"] == "meta_ads_manager":
            df = _csv(path)
            assert meta["data_rows"] == int((df["Campaign ID"] != "").sum())
            assert meta["summary_rows"] == int((df["Campaign ID"] == "").sum()) == 1
        elif meta["shape"] == "linkedin_campaign_manager":
            rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-16")), delimiter="\t"))
            assert meta["data_rows"] == len(rows) - 6


def test_valid_records_reconcile(expected):
    by_entity = Counter()
    for meta in expected["files"].values():
        if not meta["identical_to"]:
            by_entity[meta["entity"]] += (
                meta["data_rows"] - meta["duplicate_rows"] - meta["bad_rows"]
            )
    assert {k: v["valid_records"] for k, v in expected["entities"].items()} == dict(by_entity)
