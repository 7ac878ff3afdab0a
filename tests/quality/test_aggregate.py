"""The DuckDB aggregate path counts exactly what GX's pandas engine counts.

Every raw suite runs twice on the same data — ``row_engine="pandas"`` (every row through GX's
pandas engine, the reference) and ``row_engine="duckdb"`` (one aggregate query per table) —
and every outcome must agree: success, element, unexpected and missing counts, and, where at
most a sample's worth of rows fail, the same failing keys. The data: the real fixtures
ingested by the real loader, raw files with bad rows planted (each labelled with the rule it
breaks), and generated frames. The regex translation is checked character by character.
"""

from __future__ import annotations

import re
import shutil
import sys
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.contract import DUCKDB_TYPES, entities, lineage_columns
from pipelines.quality import aggregate, engine
from pipelines.quality.engine import GxRunner
from pipelines.quality.runner import run_suite
from pipelines.quality.sources import DuckSource, raw_source
from pipelines.quality.suites import load_suite, parse_suite
from quality.raw_layer import write_raw

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
FIXTURE_FOLDERS = (
    "fivetran_dbt_facebook_ads",
    "fivetran_dbt_ga4_export",
    "fivetran_dbt_google_ads",
    "fivetran_dbt_hubspot",
    "fivetran_dbt_linkedin",
    "fivetran_dbt_salesforce",
    "fivetran_dbt_shopify",
    "fivetran_dbt_tiktok_ads",
    "maven_crm_sales_opportunities",
)
RETAIL = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"
RETAIL_ROWS = 30_000  # several hundred nulls in Customer ID and prices <= 0 among them


@pytest.fixture(scope="module")
def runner() -> GxRunner:
    return GxRunner()


def _both(suite, make_source, runner, pii=frozenset()):
    """The suite's outcomes by the pandas engine and by the DuckDB aggregate."""
    runs = {}
    for row_engine in ("pandas", "duckdb"):
        with make_source() as source:
            runs[row_engine] = run_suite(
                suite, source, pii=set(pii), runner=runner, now=NOW, row_engine=row_engine
            )
    return runs["pandas"], runs["duckdb"]


def _counts(outcome) -> tuple:
    return (
        outcome.success,
        outcome.element_count,
        outcome.unexpected_count,
        outcome.missing_count,
        outcome.exception is None,
    )


def _sorted_keys(keys: list[dict]) -> list[str]:
    return sorted(repr(sorted(k.items())) for k in keys)


def assert_same(reference, candidate) -> None:
    """Every outcome equal; the aggregate really ran the row-level ones."""
    assert reference.rows_checked == candidate.rows_checked
    for ref, got in zip(reference.outcomes, candidate.outcomes, strict=True):
        label = ref.expectation.label
        assert _counts(got) == _counts(ref), label
        if ref.expectation.route == "rows":
            assert got.evaluated_on.startswith("DuckDB aggregate"), (label, candidate.notes)
            if (ref.unexpected_count or 0) <= engine.SAMPLE_SIZE:
                assert _sorted_keys(got.failing_keys) == _sorted_keys(ref.failing_keys), label
    assert candidate.chunks == 0  # no row went through pandas
    assert reference.passed == candidate.passed
    assert reference.blocking_failure == candidate.blocking_failure


def _raw_suite_runs(home, entity, runner):
    ent = entities()[entity]
    expected = {c.name: DUCKDB_TYPES[c.type] for c in ent.columns}
    expected |= {n: DUCKDB_TYPES[t] for n, t in lineage_columns().items()}
    pii = {c.name for c in ent.columns if c.pii}
    return _both(
        load_suite("raw", entity), lambda: raw_source(home / "raw", entity, expected), runner, pii
    )


# ------------------------------------------------------------------ the real fixtures


@pytest.fixture(scope="module")
def fixture_home(tmp_path_factory, shared_fixtures):
    """The real exports (Online Retail II: its first 30,000 lines) through the real ingest."""
    from pipelines.ingest.loader import run_ingest

    home = tmp_path_factory.mktemp("fixture_raw")
    for folder in FIXTURE_FOLDERS:
        shutil.copytree(shared_fixtures / folder, home / "landing" / folder)
    retail = home / "landing" / RETAIL
    retail.parent.mkdir(parents=True)
    pq.write_table(pq.read_table(shared_fixtures / RETAIL).slice(0, RETAIL_ROWS), retail)
    run_ingest(home)
    return home


@pytest.mark.parametrize("entity", sorted(entities()))
def test_real_fixtures_same_counts(fixture_home, runner, entity):
    if not any((fixture_home / "raw" / entity).glob("*.parquet")):
        pytest.skip(f"no fixture maps onto {entity}")
    reference, candidate = _raw_suite_runs(fixture_home, entity, runner)
    assert_same(reference, candidate)


def test_real_orders_fail_where_pandas_says(fixture_home, runner):
    """Online Retail II's own flaws: lines without a Customer ID, prices <= 0 (counted here
    with plain pandas from the raw Parquet)."""
    ent = entities()["orders"]
    expected = {c.name: DUCKDB_TYPES[c.type] for c in ent.columns}
    with raw_source(fixture_home / "raw", "orders", expected) as source:
        candidate = run_suite(
            load_suite("raw", "orders"), source, pii=set(), runner=runner, now=NOW
        )
    raw = pd.read_parquet(fixture_home / "raw" / "orders")
    by_label = {o.expectation.label: o for o in candidate.outcomes}
    no_customer = by_label["expect_column_values_to_not_be_null(customer_id)"]
    assert no_customer.unexpected_count == raw["customer_id"].isna().sum() > 0
    price = by_label["expect_column_values_to_be_between(unit_price)"]
    assert price.unexpected_count == (raw["unit_price"] < 0).sum()
    assert price.missing_count == raw["unit_price"].isna().sum()


# ------------------------------------------------------------------ planted bad rows

EMAILS = {
    "ok": "jane@example.com",
    "ok_trailing_newline": "jane@example.com\n",  # Python's $ matches before a final \n
    "ok_zero_width_space": "ja\u200bne@example.com",  # \u200b is not \s in Python
    "bad_space": "ja ne@example.com",
    "bad_nbsp": "ja\u00a0ne@example.com",  # \s in Python, not in RE2
    "bad_unit_separator": "ja\x1fne@example.com",  # \s in Python's str
    "bad_line_separator": "jane@example.com\u2028",
    "bad_no_dot": "jane@example",
    "bad_two_ats": "ja@ne@example.com",
    "bad_two_newlines": "jane@example.com\n\n",
}


def test_planted_contacts(tmp_path, runner):
    rows = []
    for i, (label, email) in enumerate(EMAILS.items()):
        rows.append({"contact_id": f"c{i}", "email": email, "_label": label})
    rows += [
        {"contact_id": None, "email": "x@y.zz", "_label": "not null: contact_id"},
        {"contact_id": "c90", "created_at": pd.Timestamp("2025-06-03"), "_label": "future"},
        {"contact_id": "c91", "created_at": pd.Timestamp("2025-06-02 11:00"), "_label": "slack"},
        {"contact_id": "c92", "birth_date": pd.Timestamp("1899-12-31").date(), "_label": "<1900"},
        {"contact_id": "c93", "birth_date": pd.Timestamp("1900-01-01").date(), "_label": "=1900"},
        {"contact_id": "c94", "birth_date": pd.Timestamp("2025-06-03").date(), "_label": "future"},
    ]
    frame = pd.DataFrame(rows)
    write_raw(tmp_path, "contacts", frame.drop(columns="_label"))
    reference, candidate = _raw_suite_runs(tmp_path, "contacts", runner)
    assert_same(reference, candidate)
    by_label = {o.expectation.label: o for o in candidate.outcomes}
    email = by_label["expect_column_values_to_match_regex(email)"]
    python = (
        frame["email"].dropna().map(lambda v: re.search(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", v) is None)
    )
    assert email.unexpected_count == python.sum() == 7
    assert by_label["expect_column_values_to_be_between(birth_date)"].unexpected_count == 2
    assert by_label["expect_column_values_to_be_between(created_at)"].unexpected_count == 1
    assert by_label["expect_column_values_to_not_be_null(contact_id)"].unexpected_count == 1


def test_planted_events_and_spend(tmp_path, runner):
    nan = float("nan")
    events = pd.DataFrame(
        [
            {
                "event_id": "e1",
                "event_at": pd.Timestamp("2025-05-01"),
                "event_name": "page_view",
                "user_pseudo_id": "u1",
                "revenue": 10.0,
                "currency": "USD",
            },
            {
                "event_id": "e2",
                "event_at": pd.Timestamp("2025-07-01"),
                "event_name": "purchase",
                "user_pseudo_id": None,
                "revenue": -1.0,
                "currency": "usd",
            },  # future, <0, case
            {
                "event_id": "e3",
                "event_at": None,
                "event_name": None,  # not null x2
                "user_pseudo_id": "u3",
                "revenue": 2_000_000.0,
                "currency": "XXY",
            },  # > 1e6
            {
                "event_id": None,
                "event_at": pd.Timestamp("2025-05-02"),
                "event_name": "x",
                "user_pseudo_id": "u4",
                "revenue": nan,
                "currency": None,
            },  # NaN is missing
        ]
    )
    write_raw(tmp_path, "events", events)
    assert_same(*_raw_suite_runs(tmp_path, "events", runner))

    spend = pd.DataFrame(
        [
            {
                "spend_date": pd.Timestamp("2025-05-01").date(),
                "platform": "google_ads",
                "campaign_id": "c1",
                "spend": 10.0,
                "impressions": 100,
                "clicks": 5,
                "currency": "USD",
            },
            {
                "spend_date": pd.Timestamp("2025-06-05").date(),
                "platform": "myspace_ads",
                "campaign_id": "c2",
                "spend": -3.0,
                "impressions": 5,
                "clicks": 50,
                "currency": "EUR",
            },  # future day, unknown platform, negative, clicks > impr.
            {
                "spend_date": pd.Timestamp("2025-06-02").date(),
                "platform": "meta_ads",
                "campaign_id": None,
                "spend": None,
                "impressions": None,
                "clicks": 7,
                "currency": "EURO",
            },  # tomorrow is within the slack; a missing side is ignored
        ]
    )
    write_raw(tmp_path, "ad_spend_daily", spend)
    reference, candidate = _raw_suite_runs(tmp_path, "ad_spend_daily", runner)
    assert_same(reference, candidate)
    assert candidate.blocking_failure


def test_planted_leads_orders_nps(tmp_path, runner):
    leads = pd.DataFrame(
        [
            {
                "lead_id": "l1",
                "created_at": pd.Timestamp("2025-01-02"),
                "mql_at": pd.Timestamp("2025-01-01"),
                "lead_type": "webinar",
                "employees": -1,
            },
            {
                "lead_id": "l2",
                "created_at": pd.Timestamp("2025-01-02"),
                "mql_at": None,
                "lead_type": "Webinar",
            },
            {"lead_id": "l3", "created_at": None, "mql_at": pd.Timestamp("2025-01-01")},
            {
                "lead_id": "l4",
                "created_at": pd.Timestamp("2025-01-02"),
                "mql_at": pd.Timestamp("2025-01-02"),
                "lead_type": "other",
                "employees": 0,
            },
        ]
    )
    write_raw(tmp_path, "leads", leads)
    assert_same(*_raw_suite_runs(tmp_path, "leads", runner))

    orders = pd.DataFrame(
        [
            {
                "order_id": "o1",
                "order_line_id": "1",
                "ordered_at": pd.Timestamp("2025-01-01"),
                "currency": "GBP",
                "unit_price": 0.0,
                "discount_amount": 0.0,
                "customer_id": "k1",
            },
            {
                "order_id": "o2",
                "order_line_id": "1",
                "ordered_at": pd.Timestamp("2025-01-01"),
                "currency": "gbp",
                "unit_price": -0.01,
                "discount_amount": -5.0,
            },
            {
                "order_id": "o3",
                "order_line_id": None,
                "ordered_at": None,
                "currency": None,
                "unit_price": None,
            },
        ]
    )
    write_raw(tmp_path, "orders", orders)
    assert_same(*_raw_suite_runs(tmp_path, "orders", runner))

    nps = pd.DataFrame(
        [
            {"response_id": "r1", "score": 10, "responded_at": pd.Timestamp("2025-01-01")},
            {"response_id": "r2", "score": 11, "responded_at": pd.Timestamp("2026-01-01")},
            {"response_id": "r3", "score": -1, "responded_at": None},
            {"response_id": "r4", "score": None, "responded_at": pd.Timestamp("2025-01-01")},
        ]
    )
    write_raw(tmp_path, "nps_responses", nps)
    assert_same(*_raw_suite_runs(tmp_path, "nps_responses", runner))


# ------------------------------------------------------------------ generated frames

GENERATED = parse_suite(
    {
        "name": "raw__generated",
        "meta": {"layer": "raw", "entity": "generated", "key": ["id"]},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "s", "mostly": 0.7},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "x", "min_value": 0, "max_value": 10, "strict_min": True},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "n", "min_value": -2, "mostly": 0.8},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "ts", "max_value": {"$PARAMETER": "future_cutoff_ts"}},
            },
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "d",
                    "min_value": "2025-01-01",
                    "strict_max": True,
                    "max_value": {"$PARAMETER": "future_cutoff_date"},
                },
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "s", "value_set": ["a", "b b", "é"]},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "n", "value_set": [1, 2, 3]},
            },
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "s", "regex": r"^\S+\s?[0-9]*$"},
            },
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": "s", "regex": r"[a-c]|é\Z"},
                "meta": {"id": "s_letters"},
            },
            {
                "type": "expect_column_pair_values_a_to_be_greater_than_b",
                "kwargs": {
                    "column_A": "ts2",
                    "column_B": "ts",
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                },
            },
            {
                "type": "expect_column_pair_values_a_to_be_greater_than_b",
                "kwargs": {
                    "column_A": "n",
                    "column_B": "x",
                    "ignore_row_if": "either_value_is_missing",
                },
                "meta": {"id": "n_over_x"},
            },
        ],
    }
)
TEXT = st.sampled_from(
    ["a", "b b", "é", "a\n", "a\n\n", "x\u00a0y", "c\u2028", "7", "a 12", "٣", "", "b\x1f"]
)
TIMES = st.one_of(
    st.none(),
    st.datetimes(datetime(2024, 12, 30), datetime(2025, 6, 4)),
)
generated_rows = st.fixed_dictionaries(
    {
        "x": st.one_of(st.none(), st.just(float("nan")), st.floats(-3, 13, allow_nan=False)),
        "n": st.one_of(st.none(), st.integers(-4, 4)),
        "s": st.one_of(st.none(), TEXT),
        "ts": TIMES,
        "ts2": TIMES,
    }
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(generated_rows, min_size=0, max_size=40))
def test_generated_frames_same_counts(runner, records):
    frame = pd.DataFrame(records, columns=["x", "n", "s", "ts", "ts2"])
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])

    def source():
        con = duckdb.connect()
        con.register("frame_in", frame)
        con.execute(
            "create temp view source as select id::varchar id, x::double x, n::bigint n, "
            "s::varchar s, ts::timestamp ts, ts2::timestamp ts2, ts::date d from frame_in"
        )
        return _closing(DuckSource(con, "generated"))

    assert_same(*_both(GENERATED, source, runner))


class _closing:
    def __init__(self, source: DuckSource) -> None:
        self.source = source

    def __enter__(self) -> DuckSource:
        return self.source

    def __exit__(self, *exc) -> None:
        self.source.con.close()


# ------------------------------------------------------------------ what stays on pandas


def test_untranslatable_expectations_stay_on_pandas(runner):
    suite = parse_suite(
        {
            "name": "raw__fallback",
            "meta": {"layer": "raw", "entity": "fallback", "key": ["id"]},
            "expectations": [
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "s", "regex": r"\bword\b"},
                },
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "s", "min_value": 0},
                },
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
                {
                    "type": "expect_column_pair_values_a_to_be_greater_than_b",
                    "kwargs": {"column_A": "n", "column_B": "m"},
                },
            ],
        }
    )
    frame = pd.DataFrame(
        {"id": ["1", "2", None], "s": ["a word", "words", "b"], "n": [2, 1, None], "m": [1, 1, 0]}
    )

    def source():
        con = duckdb.connect()
        con.register("frame_in", frame)
        con.execute("create temp view source as select * from frame_in")
        return _closing(DuckSource(con, "fallback"))

    reference, candidate = _both(suite, source, runner)
    regex, between, not_null, pair = candidate.outcomes
    assert [_counts(o) for o in candidate.outcomes] == [_counts(o) for o in reference.outcomes]
    assert regex.unexpected_count == 2 and "chunks" in regex.evaluated_on  # \b: no RE2 form
    assert between.exception and "chunks" in between.evaluated_on  # str vs int: GX raises
    assert not_null.evaluated_on.startswith("DuckDB aggregate")
    # a pair with one side missing takes part by default: left to pandas (NA semantics)
    assert pair.unexpected_count == 2 and "chunks" in pair.evaluated_on
    assert candidate.chunks == 1
    assert any("on pandas chunks" in n for n in candidate.notes)


def test_expectation_on_an_absent_column_fails_without_reading_rows(runner):
    suite = parse_suite(
        {
            "name": "raw__absent",
            "meta": {"layer": "raw", "entity": "absent", "key": ["id"]},
            "expectations": [
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "gone"}},
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "x", "min_value": 0},
                },
            ],
        }
    )
    frame = pd.DataFrame({"id": ["1", "2", "3"], "x": [1.0, -1.0, None]})

    def source():
        con = duckdb.connect()
        con.register("frame_in", frame)
        con.execute("create temp view source as select * from frame_in")
        return _closing(DuckSource(con, "absent"))

    reference, candidate = _both(suite, source, runner)
    gone, x = candidate.outcomes
    assert not gone.success and gone.exception and "gone" in gone.exception
    assert not reference.outcomes[0].success and reference.outcomes[0].exception
    assert _counts(x) == _counts(reference.outcomes[1]) and x.unexpected_count == 1
    assert candidate.chunks == 0 and candidate.rows_checked == reference.rows_checked == 3
    assert candidate.blocking_failure and reference.blocking_failure


# ------------------------------------------------------------------ regex, character by character


@pytest.mark.parametrize("escape", [r"\s", r"\S", r"[^@\s]", r"[a\s]", r"\s$"])
def test_regex_classes_match_python_on_every_character(escape):
    translated = aggregate.re2_pattern(escape)
    assert translated is not None
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    python = [re.search(escape, ch) is not None for ch in chars]
    con = duckdb.connect()
    con.register("chars", pd.DataFrame({"ch": chars}))
    duck = [
        r[0]
        for r in con.execute("select regexp_matches(ch, ?) from chars", [translated]).fetchall()
    ]
    mismatches = [hex(ord(ch)) for ch, p, d in zip(chars, python, duck, strict=True) if p != d]
    assert mismatches == []


def test_regex_constructs_without_equivalent_are_refused():
    # \d: Python's Unicode digits are its own Unicode version's (3.11: 14.0), RE2's newer
    for pattern in (r"\d", r"[\d]", r"\w+", r"\bx", r"(?=a)", r"(?i)a", r"(a)\1", r"[[a]", "\\"):
        assert aggregate.re2_pattern(pattern) is None, pattern
    assert aggregate.re2_pattern("^a$") == r"^a(?:\n?\z)"
