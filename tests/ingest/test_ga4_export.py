"""GA4 as Google exports it (issue 19.6): the BigQuery export schema as JSON lines and as
Parquet with BigQuery's nested types, `(not set)` transaction ids on every e-commerce event,
session sources in event params and in session_traffic_source_last_click, the user's first
acquisition in traffic_source.

Expected values are GA4's own definitions computed in pandas from the records the test
writes: a session is user_pseudo_id + ga_session_id; a purchase is an event named
'purchase' with a real transaction id; a session's source / medium is that of its first
event on which the export recorded one (placeholders are no value), else the landing URL's
UTMs, else Direct; channels follow GA4's default channel group definitions.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import run_ingest
from pipelines.ingest.check import check_file
from pipelines.ingest.readers import SourceFile
from tests.ingest.conftest import land, manifests, raw
from tests.pipeline.runner import run_job

PLACEHOLDERS = {"(not set)", "(data deleted)", "<Other>", "(none)"}
SITE = "https://shop.example.com"

# --------------------------------------------------------------------------- BigQuery schema

_VALUE = pa.struct(
    [
        ("string_value", pa.string()),
        ("int_value", pa.int64()),
        ("float_value", pa.float64()),
        ("double_value", pa.float64()),
    ]
)
_PARAMS = pa.list_(pa.struct([("key", pa.string()), ("value", _VALUE)]))
_MANUAL = pa.struct(
    [
        (n, pa.string())
        for n in (
            "campaign_id",
            "campaign_name",
            "source",
            "medium",
            "term",
            "content",
            "source_platform",
            "creative_format",
            "marketing_tactic",
        )
    ]
)
SCHEMA = pa.schema(
    [
        ("event_date", pa.string()),
        ("event_timestamp", pa.int64()),
        ("event_name", pa.string()),
        ("event_params", _PARAMS),
        ("event_previous_timestamp", pa.int64()),
        ("event_value_in_usd", pa.float64()),
        ("event_bundle_sequence_id", pa.int64()),
        ("event_server_timestamp_offset", pa.int64()),
        ("user_id", pa.string()),
        ("user_pseudo_id", pa.string()),
        (
            "privacy_info",
            pa.struct(
                [
                    ("analytics_storage", pa.string()),
                    ("ads_storage", pa.string()),
                    ("uses_transient_token", pa.string()),
                ]
            ),
        ),
        ("user_properties", _PARAMS),
        ("user_first_touch_timestamp", pa.int64()),
        ("user_ltv", pa.struct([("revenue", pa.float64()), ("currency", pa.string())])),
        (
            "device",
            pa.struct(
                [
                    ("category", pa.string()),
                    ("mobile_brand_name", pa.string()),
                    ("operating_system", pa.string()),
                    ("language", pa.string()),
                    (
                        "web_info",
                        pa.struct([("browser", pa.string()), ("hostname", pa.string())]),
                    ),
                ]
            ),
        ),
        (
            "geo",
            pa.struct(
                [
                    (n, pa.string())
                    for n in ("city", "country", "continent", "region", "sub_continent", "metro")
                ]
            ),
        ),
        (
            "traffic_source",
            pa.struct([("name", pa.string()), ("medium", pa.string()), ("source", pa.string())]),
        ),
        ("stream_id", pa.string()),
        ("platform", pa.string()),
        ("event_dimensions", pa.struct([("hostname", pa.string())])),
        (
            "ecommerce",
            pa.struct(
                [
                    ("total_item_quantity", pa.int64()),
                    ("purchase_revenue_in_usd", pa.float64()),
                    ("purchase_revenue", pa.float64()),
                    ("refund_value_in_usd", pa.float64()),
                    ("refund_value", pa.float64()),
                    ("shipping_value_in_usd", pa.float64()),
                    ("shipping_value", pa.float64()),
                    ("tax_value_in_usd", pa.float64()),
                    ("tax_value", pa.float64()),
                    ("unique_items", pa.int64()),
                    ("transaction_id", pa.string()),
                ]
            ),
        ),
        (
            "items",
            pa.list_(
                pa.struct(
                    [
                        ("item_id", pa.string()),
                        ("item_name", pa.string()),
                        ("price", pa.float64()),
                        ("quantity", pa.int64()),
                        ("item_revenue", pa.float64()),
                    ]
                )
            ),
        ),
        (
            "collected_traffic_source",
            pa.struct(
                [
                    (n, pa.string())
                    for n in (
                        "manual_campaign_id",
                        "manual_campaign_name",
                        "manual_source",
                        "manual_medium",
                        "manual_term",
                        "manual_content",
                        "gclid",
                        "dclid",
                        "srsltid",
                    )
                ]
            ),
        ),
        ("is_active_user", pa.bool_()),
        ("batch_event_index", pa.int64()),
        ("batch_page_id", pa.int64()),
        ("batch_ordering_id", pa.int64()),
        (
            "session_traffic_source_last_click",
            pa.struct(
                [
                    ("manual_campaign", _MANUAL),
                    (
                        "google_ads_campaign",
                        pa.struct(
                            [
                                (n, pa.string())
                                for n in (
                                    "customer_id",
                                    "account_name",
                                    "campaign_id",
                                    "campaign_name",
                                    "ad_group_id",
                                    "ad_group_name",
                                )
                            ]
                        ),
                    ),
                ]
            ),
        ),
    ]
)

# ----------------------------------------------------------------------------- the export

# session scenarios: (where the export records the session source, source, medium, campaign,
# landing URL query). "param": source/medium/campaign event params on session_start and the
# landing page_view; "last_click": session_traffic_source_last_click.manual_campaign on every
# event; "collected": collected_traffic_source on the landing page_view only.
SCENARIOS = [
    ("param", "google", "organic", "(organic)", ""),
    # the export's own source wins over the landing URL's UTMs
    ("param", "google", "cpc", "spring_sale", "?utm_source=facebook&utm_medium=paid_social"),
    ("last_click", "newsletter", "email", "may_news", ""),
    ("param", "<Other>", "organic", "(organic)", ""),
    # only placeholders recorded: the landing URL's UTMs decide
    (
        "param",
        "(data deleted)",
        "(data deleted)",
        "(data deleted)",
        "?utm_source=facebook&utm_medium=paid_social&utm_campaign=retarget",
    ),
    ("param", "(direct)", "(none)", "(direct)", ""),
    (None, None, None, None, ""),
    ("collected", "bing", "cpc", "brand", ""),
    ("param", "partner.example.org", "referral", "(referral)", ""),
]
FIRST_USER = [
    ("google", "organic", "(organic)"),
    ("(direct)", "(none)", "(direct)"),
    ("google", "cpc", "spring_sale"),
    ("(data deleted)", "(data deleted)", "(data deleted)"),
]
COUNTRIES = ["United States", "France", "Germany", "(not set)"]


def _param(key, value):
    if isinstance(value, bool) or value is None:
        raise TypeError(key)
    if isinstance(value, int):
        v = {"int_value": value}
    elif isinstance(value, float):
        v = {"double_value": value}
    else:
        v = {"string_value": value}
    return {"key": key, "value": v}


def export_records() -> list[dict]:
    """GA4 export rows (Python values of the BigQuery types), in event time order per day."""
    rng = np.random.default_rng(19)
    records: list[dict] = []
    base = int(datetime(2024, 3, 1, 8, tzinfo=UTC).timestamp())
    txn = 0
    sessions: list[tuple] = []
    for u in range(24):
        pseudo = f"{1_000_000 + u * 7919}.{1_709_000_000 + u}"
        first_user = FIRST_USER[u % len(FIRST_USER)]
        country = COUNTRIES[u % len(COUNTRIES)]
        n_sessions = 1 + u % 3
        start = base + int(rng.integers(0, 2 * 86_400 - 4 * 3600))
        for k in range(n_sessions):
            scenario = SCENARIOS[len(sessions) % len(SCENARIOS)]
            sessions.append(scenario)
            kind, src, med, camp, query = scenario
            session_id = start
            steps = ["session_start", "page_view", "view_item"]
            if (u + k) % 3 == 0:
                steps += ["add_to_cart", "begin_checkout", "purchase"]
            elif (u + k) % 3 == 1:
                steps += ["add_to_cart"]
            else:
                steps += ["scroll", "page_view"]
            t = start * 1_000_000
            for i, name in enumerate(steps):
                # user 5's first session has a 45-minute pause (still one GA4 session)
                gap = 45 * 60 if (u == 5 and k == 0 and i == 3) else int(rng.integers(5, 120))
                t += gap * 1_000_000
                page = f"{SITE}/" + ("" if i < 2 else "products/p-1")
                if i < 2:
                    page += query
                params = [
                    _param("ga_session_id", session_id),
                    _param("ga_session_number", k + 1),
                    _param("page_location", page),
                    _param("page_title", "Shop"),
                    _param("engagement_time_msec", int(rng.integers(100, 9000))),
                ]
                rec: dict = {
                    "event_date": datetime.fromtimestamp(t / 1e6, UTC).strftime("%Y%m%d"),
                    "event_timestamp": t,
                    "event_name": name,
                    "event_bundle_sequence_id": int(rng.integers(1, 10**6)),
                    "user_pseudo_id": pseudo,
                    "user_first_touch_timestamp": base * 1_000_000,
                    "privacy_info": {"analytics_storage": "Yes", "ads_storage": "Yes"},
                    "device": {
                        "category": ["desktop", "mobile", "tablet"][u % 3],
                        "operating_system": "Web",
                        "language": "en-us",
                        "web_info": {"browser": "Chrome", "hostname": "shop.example.com"},
                    },
                    "geo": {"country": country, "city": "(not set)", "continent": "Europe"},
                    "traffic_source": dict(
                        zip(("source", "medium", "name"), first_user, strict=True)
                    ),
                    "stream_id": "1234567890",
                    "platform": "WEB",
                    "event_dimensions": {"hostname": "shop.example.com"},
                    "is_active_user": True,
                    "batch_event_index": i,
                }
                if kind == "param" and name in ("session_start", "page_view") and i < 2:
                    params += [_param("source", src), _param("medium", med)]
                    params.append(_param("campaign", camp))
                if kind == "last_click":
                    rec["session_traffic_source_last_click"] = {
                        "manual_campaign": {"source": src, "medium": med, "campaign_name": camp}
                    }
                if kind == "collected" and name == "page_view" and i == 1:
                    rec["collected_traffic_source"] = {
                        "manual_source": src,
                        "manual_medium": med,
                        "manual_campaign_name": camp,
                    }
                if name in ("view_item", "add_to_cart", "begin_checkout"):
                    params += [_param("currency", "USD"), _param("value", 25.0)]
                    rec["ecommerce"] = {
                        "total_item_quantity": 1,
                        "unique_items": 1,
                        "transaction_id": "(not set)",
                    }
                    rec["items"] = [
                        {"item_id": "p-1", "item_name": "Mug", "price": 25.0, "quantity": 1}
                    ]
                if name == "purchase":
                    txn += 1
                    revenue = float(25 * (1 + txn % 4)) + 0.5
                    params += [
                        _param("transaction_id", f"T-{txn:04d}"),
                        _param("currency", "USD"),
                        _param("value", revenue),
                    ]
                    rec["ecommerce"] = {
                        "total_item_quantity": 1,
                        "purchase_revenue": revenue,
                        "purchase_revenue_in_usd": revenue,
                        "unique_items": 1,
                        "transaction_id": f"T-{txn:04d}",
                    }
                    rec["user_id"] = f"C{u:03d}"
                rec["event_params"] = params
                records.append(rec)
            # user 2's next session starts 10 minutes after this one ends: two GA4 sessions
            start = t // 1_000_000 + (600 if u == 2 else int(rng.integers(3, 30)) * 3600)
    records.sort(key=lambda r: r["event_timestamp"])
    return records


def _bq_json(value):
    """As BigQuery's JSON export writes a value: INT64 as a string, nulls left out."""
    if isinstance(value, dict):
        return {k: _bq_json(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_bq_json(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def days(records) -> list[str]:
    """The daily export tables (events_YYYYMMDD) the records fall in."""
    return sorted({r["event_date"] for r in records})


def write_jsonl(folder, records) -> list:
    paths = []
    for day in days(records):
        rows = [r for r in records if r["event_date"] == day]
        path = folder / f"events_{day}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(_bq_json(r)) + "\n" for r in rows))
        paths.append(path)
    return paths


def write_parquet(folder, records) -> list:
    paths = []
    for day in days(records):
        rows = [copy.deepcopy(r) for r in records if r["event_date"] == day]
        path = folder / f"events_{day}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------- GA4's own definitions


def _real(value):
    return None if value is None or value in PLACEHOLDERS else value


def _params(rec) -> dict:
    return {
        p["key"]: next((v for v in p["value"].values() if v is not None), None)
        for p in rec["event_params"]
    }


def _query_param(url: str, name: str):
    m = re.search(rf"[?&]{name}=([^&#]*)", url or "")
    return m.group(1) if m else None


SEARCH, SOCIAL = {"google", "bing"}, {"facebook"}
PAID = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")


def ga4_channel(source, medium) -> str:
    """GA4's default channel group, for the sources this export uses."""
    s = source.lower() if isinstance(source, str) else ""  # None / NaN: no value
    m = medium.lower() if isinstance(medium, str) else ""
    paid = bool(PAID.match(m))
    if s in ("(direct)", "") and m in ("", "(none)", "(not set)"):
        return "Direct"
    if s in SEARCH and paid:
        return "Paid Search"
    if s in SOCIAL and paid:
        return "Paid Social"
    if s in SEARCH or m == "organic":
        return "Organic Search"
    if m == "referral":
        return "Referral"
    if m == "email":
        return "Email"
    return "Unassigned"


def expected_sessions(records) -> pd.DataFrame:
    rows = []
    for r in records:
        p = _params(r)
        last = (r.get("session_traffic_source_last_click") or {}).get("manual_campaign") or {}
        cts = r.get("collected_traffic_source") or {}
        ecommerce = r.get("ecommerce") or {}
        first = r["traffic_source"]
        rows.append(
            {
                "user_pseudo_id": r["user_pseudo_id"],
                "ga_session_id": p["ga_session_id"],
                "at": r["event_timestamp"],
                "event_name": r["event_name"],
                "transaction_id": _real(ecommerce.get("transaction_id")),
                "src": _real(last.get("source"))
                or _real(p.get("source"))
                or _real(cts.get("manual_source")),
                "med": _real(last.get("medium"))
                or _real(p.get("medium"))
                or _real(cts.get("manual_medium")),
                "url_src": _query_param(p.get("page_location"), "utm_source"),
                "url_med": _query_param(p.get("page_location"), "utm_medium"),
                "first_src": _real(first["source"]),
                "first_med": _real(first["medium"]),
            }
        )
    events = pd.DataFrame(rows).sort_values("at")
    out = []
    for (pseudo, _sid), g in events.groupby(["user_pseudo_id", "ga_session_id"], sort=True):
        recorded = g[g["src"].notna() | g["med"].notna()]
        if len(recorded):
            channel = ga4_channel(recorded.iloc[0]["src"], recorded.iloc[0]["med"])
        elif g.iloc[0]["url_src"] or g.iloc[0]["url_med"]:
            channel = ga4_channel(g.iloc[0]["url_src"], g.iloc[0]["url_med"])
        else:
            channel = "Direct"
        purchases = g[(g["event_name"] == "purchase") & g["transaction_id"].notna()]
        first = g[g["first_src"].notna() | g["first_med"].notna()]
        out.append(
            {
                "user_pseudo_id": pseudo,
                "started_at": pd.Timestamp(g["at"].min(), unit="us"),
                "channel": channel,
                "has_purchase": len(purchases) > 0,
                "transactions": purchases["transaction_id"].nunique(),
                "first_user_channel": (
                    ga4_channel(first.iloc[0]["first_src"], first.iloc[0]["first_med"])
                    if len(first)
                    else None
                ),
            }
        )
    return pd.DataFrame(out).sort_values(["user_pseudo_id", "started_at"]).reset_index(drop=True)


# ------------------------------------------------------------------------------ pipeline


# the shop's own orders (one line each), so the purchasing users become customers
ORDERS_MAPPING = """
name: test_shop_orders
entity: orders
source_system: test_shop
match:
  columns: [order_ref, customer_ref, ordered_on, amount]
columns:
  order_id: order_ref
  order_line_id: {const: "1"}
  customer_id: customer_ref
  ordered_at: ordered_on
  net_amount: amount
  quantity: {const: 1}
  currency: {const: USD}
"""


def orders_csv(records) -> str:
    lines = ["order_ref,customer_ref,ordered_on,amount"]
    for r in records:
        if r["event_name"] == "purchase":
            at = pd.Timestamp(r["event_timestamp"], unit="us")
            e = r["ecommerce"]
            lines.append(
                f"{e['transaction_id']},{r['user_id']},{at:%Y-%m-%d %H:%M:%S},{e['purchase_revenue']}"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def records():
    return export_records()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, records):
    """The same export landed as JSON lines in one home and as Parquet in another."""
    homes = {}
    for fmt, write in (("jsonl", write_jsonl), ("parquet", write_parquet)):
        home = tmp_path_factory.mktemp(f"ga4_{fmt}")
        write(home / "landing" / "ga4", records)
        (home / "landing" / "shop").mkdir()
        (home / "landing" / "shop" / "orders.csv").write_text(orders_csv(records))
        (home / "mappings").mkdir()
        (home / "mappings" / "shop_orders.yaml").write_text(ORDERS_MAPPING)
        homes[fmt] = (home, run_job(home))
    return homes


def _mart(home, sql) -> pd.DataFrame:
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_row_loads_with_its_nested_fields(runs, records, fmt):
    home, result = runs[fmt]
    assert result.success
    files = [m for m in manifests(home) if m.get("entity") == "events"]
    assert [m["status"] for m in files] == ["loaded"] * len(days(records)) != []
    assert sum(m["rows_loaded"] for m in files) == len(records)
    assert sum(m["rows_quarantined"] for m in files) == 0
    df = raw(home, "events")
    by_name = df["event_name"].value_counts().to_dict()
    assert by_name == pd.Series([r["event_name"] for r in records]).value_counts().to_dict()
    # the nested fields arrive: session id, page, device, country on every row
    for column in ("session_id", "page_location", "device_category", "first_user_medium"):
        assert df[column].notna().sum() > 0, column
    assert df["session_id"].notna().all() and df["page_location"].notna().all()
    purchases = [r for r in records if r["event_name"] == "purchase"]
    got = df[df["event_name"] == "purchase"].set_index("transaction_id")["revenue"].to_dict()
    want = {r["ecommerce"]["transaction_id"]: r["ecommerce"]["purchase_revenue"] for r in purchases}
    assert got == want


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_placeholders_are_never_values(runs, fmt):
    home, _ = runs[fmt]
    df = raw(home, "events")
    text = df.select_dtypes(include="object").drop(columns=["_extra"], errors="ignore")
    found = {c: sorted(set(text[c].dropna()) & PLACEHOLDERS) for c in text.columns}
    assert {c: v for c, v in found.items() if v} == {}
    # GA4's (not set) on view_item / add_to_cart / begin_checkout is not a transaction
    carts = df[df["event_name"].isin(["view_item", "add_to_cart", "begin_checkout"])]
    assert len(carts) > 0 and carts["transaction_id"].isna().all()
    assert df.loc[df["event_name"] == "purchase", "transaction_id"].notna().all()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_sessions_purchases_and_channels_are_ga4s(runs, records, fmt):
    home, _ = runs[fmt]
    want = expected_sessions(records)
    got = _mart(
        home,
        "select user_pseudo_id, started_at, channel, has_purchase, transactions, "
        "first_user_channel from fct_sessions order by user_pseudo_id, started_at",
    )
    got["transactions"] = got["transactions"].astype(int)
    assert len(got) == len(want) == len({(r["user_pseudo_id"], _params(r)["ga_session_id"])
                                         for r in records})  # fmt: skip
    assert got["has_purchase"].sum() == want["has_purchase"].sum()
    assert 0 < got["has_purchase"].sum() < len(got)  # (not set) on carts is no purchase
    assert got["transactions"].sum() == sum(r["event_name"] == "purchase" for r in records)
    pd.testing.assert_frame_equal(
        got[["user_pseudo_id", "started_at", "has_purchase", "transactions"]],
        want[["user_pseudo_id", "started_at", "has_purchase", "transactions"]],
        check_dtype=False,
    )
    assert got["channel"].value_counts().to_dict() == want["channel"].value_counts().to_dict()
    assert got["channel"].tolist() == want["channel"].tolist()
    assert got["first_user_channel"].tolist() == want["first_user_channel"].tolist()
    # every scenario's channel is there, not everything Direct
    assert set(want["channel"]) >= {
        "Organic Search",
        "Paid Search",
        "Email",
        "Paid Social",
        "Direct",
        "Referral",
    }


@pytest.mark.slow
def test_first_acquisition_feeds_the_customers_acquisition_channel(runs, records):
    """A customer's acquisition channel is the first-acquisition source the export records
    for the user (traffic_source), else the channel of the user's first session."""
    home, _ = runs["jsonl"]
    sessions = expected_sessions(records)
    first_order = {}
    for r in records:
        if r["event_name"] == "purchase":
            at = pd.Timestamp(r["event_timestamp"], unit="us")
            key = (r["user_id"], r["user_pseudo_id"])
            first_order[key] = min(first_order.get(key, at), at)
    want = {}
    for (customer, pseudo), ordered_at in first_order.items():
        own = sessions[(sessions["user_pseudo_id"] == pseudo)]
        own = own[own["started_at"] <= ordered_at].sort_values("started_at")
        first = own.iloc[0]
        recorded = first["first_user_channel"]
        want[customer] = first["channel"] if pd.isna(recorded) else recorded
    got = _mart(home, "select customer_id, acquisition_channel from dim_customers")
    assert dict(zip(got["customer_id"], got["acquisition_channel"], strict=True)) == want
    # some customers take the export's first acquisition, others their first session
    firsts = sessions.groupby("user_pseudo_id")["first_user_channel"].first()
    assert firsts.isna().any() and firsts.notna().any()


@pytest.mark.slow
def test_jsonl_and_parquet_give_identical_marts(runs):
    (json_home, _), (parquet_home, _) = runs["jsonl"], runs["parquet"]
    for table, key in [
        ("fct_sessions", "session_id"),
        ("fct_touchpoints", "touchpoint_id"),
        ("fct_conversions", None),
        ("fct_attribution", None),
        ("dim_customers", "customer_key"),
        ("kpi_channel_daily", None),
        ("kpi_channel_monthly", None),
    ]:
        a = _mart(json_home, f"select * from {table}")
        b = _mart(parquet_home, f"select * from {table}")
        assert len(a) > 0, table
        order = [key] if key else list(a.columns)
        pd.testing.assert_frame_equal(
            a.sort_values(order).reset_index(drop=True),
            b.sort_values(order).reset_index(drop=True),
            obj=table,
        )


# --------------------------------------------------------------------------- ingest only


def test_nested_parquet_reads_as_the_same_cells_as_json_lines(tmp_path, records):
    """The reader flattens BigQuery's Parquet to the columns and text of its JSON export."""

    def cells(path) -> pd.DataFrame:
        tables = [c.table for c in SourceFile(path).chunks()]
        return pa.concat_tables(tables, promote_options="default").to_pandas()

    [jpath, *_] = write_jsonl(tmp_path / "js", records)
    [ppath, *_] = write_parquet(tmp_path / "pq", records)
    js, pq_ = cells(jpath), cells(ppath)
    assert len(js) == len(pq_) > 0
    # list columns other than key/value params are JSON text: BigQuery's JSON leaves nulls out
    shared = [c for c in js.columns if c != "items"]
    pd.testing.assert_frame_equal(js[shared], pq_[shared])
    # what only the Parquet has are fields null in every record (the JSON leaves them out)
    assert pq_[[c for c in pq_.columns if c not in js.columns]].isna().all().all()
    assert {"param_ga_session_id", "geo_country", "ecommerce_transaction_id"} <= set(shared)


def test_layout_the_mapping_cannot_read_is_rejected(home, records):
    """A file that matches the GA4 mapping by its top-level columns but whose nested fields
    sit elsewhere (camelCase params) maps every identifying column to null: rejected."""
    rows = [
        {
            "event_timestamp": str(r["event_timestamp"]),
            "event_name": r["event_name"],
            "user_pseudo_id": r["user_pseudo_id"],
            "eventParams": {p["key"]: str(_params(r)[p["key"]]) for p in r["event_params"]},
        }
        for r in records[:20]
    ]
    path = land(home, "ga4/events_20240301.json", "".join(json.dumps(r) + "\n" for r in rows))
    dry = check_file(path, home)  # `segmart mappings check` says so before any run
    assert not dry.ok and "session_id" in dry.error and "REJECTED" in str(dry)
    [f] = run_ingest(home).files
    assert (f.status, f.mapping) == ("rejected", "ga4_bigquery_events")
    assert "session_id" in f.reason and "page_location" in f.reason, f.reason
    assert "events_20240301.json" in f.reason
    assert raw(home, "events").empty
    assert len(list((home / "rejected").glob("*events_20240301.json"))) == 1


def test_mappings_check_lists_unmapped_nested_fields(tmp_path, records):
    [path, *_] = write_parquet(tmp_path / "pq", records)
    [jpath, *_] = write_jsonl(tmp_path / "js", records)
    for p in (path, jpath):
        result = check_file(p, tmp_path)
        assert result.ok and result.mapping == "ga4_bigquery_events", result.error
        assert result.rows_quarantined == 0
        nested = {
            "geo_city",
            "device_operating_system",
            "device_web_info_browser",
            "param_engagement_time_msec",
            "param_page_title",
            "privacy_info_analytics_storage",
            "event_bundle_sequence_id",
            "items",
        }
        assert nested <= set(result.unmapped), sorted(nested - set(result.unmapped))
        assert "unmapped: " in str(result) and "geo_city" in str(result)
        # mapped ones are not listed
        assert not {"param_ga_session_id", "geo_country", "traffic_source_medium"} & set(
            result.unmapped
        )


def test_fivetran_flattened_export_keeps_loading(home, shared_fixtures):
    rel = "fivetran_dbt_ga4_export/event_data.csv"
    target = home / "landing" / rel
    target.parent.mkdir(parents=True)
    shutil.copyfile(shared_fixtures / rel, target)
    [f] = run_ingest(home).files
    assert (f.status, f.mapping, f.rows_quarantined) == ("loaded", "fivetran_ga4_event_data", 0)
    src = pd.read_csv(shared_fixtures / rel, dtype=str, keep_default_na=False)
    src = src.loc[:, ~src.columns.duplicated()].replace("", None)
    df = raw(home, "events").sort_values("_source_row")
    assert len(df) == len(src)
    assert (
        df["session_medium"].tolist()
        == src["param_medium"].fillna(src["collected_traffic_source_manual_medium"]).tolist()
    )
    assert df["first_user_medium"].tolist() == src["traffic_source_medium"].tolist()
    assert df["first_user_campaign"].tolist() == src["traffic_source_name"].tolist()
