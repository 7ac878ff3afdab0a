"""Chunked validation equals whole-data validation; table-level rules span chunks."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.quality import engine
from pipelines.quality.engine import GxRunner
from pipelines.quality.runner import QualityState, run_suite
from pipelines.quality.sources import DuckSource
from pipelines.quality.suites import parse_suite

SUITE = parse_suite(
    {
        "name": "raw__test",
        "meta": {"layer": "raw", "entity": "test", "key": ["id"]},
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "score", "min_value": 0, "max_value": 10, "mostly": 0.8},
            },
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "currency", "value_set": {"$PARAMETER": "currencies"}},
                "meta": {"severity": "warn"},
            },
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 1},
                "meta": {"relative_to_previous": {"min_ratio": 1.0}},
            },
        ],
    }
)
ROW_EXPS = [(e, e.kwargs) for e in SUITE.by_route("rows")]
PARAMS = {"currencies": ["EUR", "USD"]}

rows = st.fixed_dictionaries(
    {
        "id": st.integers(0, 30).map(str),
        "email": st.one_of(st.none(), st.just("a@b.example")),
        "score": st.one_of(st.none(), st.integers(-3, 13)),
        "currency": st.one_of(st.none(), st.sampled_from(["EUR", "USD", "usd", "XXX"])),
    }
)


def _frame(records: list[dict]) -> pd.DataFrame:
    con = duckdb.connect()
    con.register("records_in", pd.DataFrame(records, columns=["id", "email", "score", "currency"]))
    # through DuckDB, so chunks have the dtypes the real sources produce
    return con.execute(
        "select id::varchar id, email::varchar email, score::bigint score, "
        "currency::varchar currency from records_in"
    ).fetch_df()


@pytest.fixture(scope="module")
def runner() -> GxRunner:
    return GxRunner()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=st.lists(rows, min_size=1, max_size=60), chunk=st.integers(1, 25))
def test_chunked_counts_equal_whole_frame(runner, records, chunk):
    frame = _frame(records)
    chunks = [frame.iloc[i : i + chunk].reset_index(drop=True) for i in range(0, len(frame), chunk)]
    whole, n_whole, _ = engine.validate_rows(runner, ROW_EXPS, [frame], PARAMS, ["id"], set())
    chunked, n_rows, n_chunks = engine.validate_rows(
        runner, ROW_EXPS, chunks, PARAMS, ["id"], set()
    )
    assert n_rows == n_whole == len(frame)
    assert n_chunks == len(chunks)
    for w, c in zip(whole, chunked, strict=True):
        assert (c.success, c.element_count, c.unexpected_count, c.missing_count) == (
            w.success,
            w.element_count,
            w.unexpected_count,
            w.missing_count,
        )
    # independently computed in plain pandas
    null_email, score, cur = chunked
    assert null_email.unexpected_count == frame["email"].isna().sum()
    bad_scores = ((frame["score"] < 0) | (frame["score"] > 10)).sum()
    considered = frame["score"].notna().sum()
    assert score.unexpected_count == bad_scores
    assert score.success == (considered == 0 or (considered - bad_scores) / considered >= 0.8)
    assert (
        cur.unexpected_count
        == (frame["currency"].notna() & ~frame["currency"].isin(["EUR", "USD"])).sum()
    )


def _source(frame: pd.DataFrame) -> DuckSource:
    con = duckdb.connect()
    con.register("frame_in", frame)
    con.execute("create temp view source as select * from frame_in")
    return DuckSource(con, description="test frame")


def test_uniqueness_and_row_count_span_chunks(runner, tmp_path, monkeypatch):
    monkeypatch.setattr("pipelines.quality.runner.shared_parameters", lambda: PARAMS)
    frame = _frame(
        [
            {"id": str(i % 5), "email": "a@b.example", "score": 5, "currency": "EUR"}
            for i in range(12)
        ]
    )
    state = QualityState(tmp_path)
    # the pandas chunk path (quality.row_engine: pandas), so that chunks really split the rows
    run = run_suite(
        SUITE,
        _source(frame),
        pii=set(),
        state=state,
        chunk_rows=3,
        runner=runner,
        row_engine="pandas",
    )
    unique = next(
        o for o in run.outcomes if o.expectation.type == "expect_column_values_to_be_unique"
    )
    counts = frame["id"].value_counts()
    # every row whose id occurs more than once is unexpected, although no chunk of 3 rows
    # holds a duplicate of its own
    assert unique.unexpected_count == counts[counts > 1].sum() == 12
    assert not unique.success
    assert run.chunks == 4 and run.rows_checked == 12
    assert run.blocking_failure
    assert state.previous("raw__test") == {}  # a blocked run does not move the baseline


def test_row_count_bound_against_previous_run(runner, tmp_path, monkeypatch):
    monkeypatch.setattr("pipelines.quality.runner.shared_parameters", lambda: PARAMS)
    suite = parse_suite(
        {
            "name": "raw__count",
            "meta": {"layer": "raw", "entity": "count"},
            "expectations": [SUITE.expectations[-1].to_json()],
        }
    )
    state = QualityState(tmp_path)
    big = _frame([{"id": str(i), "email": None, "score": 1, "currency": None} for i in range(10)])
    first = run_suite(suite, _source(big), pii=set(), state=state, runner=runner)
    assert first.passed and state.previous("raw__count")["row_count"] == 10
    shrunk = run_suite(suite, _source(big.iloc[:7]), pii=set(), state=state, runner=runner)
    (outcome,) = shrunk.outcomes
    assert not outcome.success and outcome.kwargs["min_value"] == 10
    assert outcome.observed_value == 7
    assert state.previous("raw__count")["row_count"] == 10


def test_pii_keys_are_hashed_and_values_never_reported(runner):
    exp = parse_suite(
        {
            "name": "raw__x",
            "meta": {"layer": "raw", "entity": "x"},
            "expectations": [
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "email", "regex": "@"},
                }
            ],
        }
    ).expectations[0]
    frame = pd.DataFrame({"email": ["jane.doe.example", "a@b.example"], "row": [1, 2]})
    (outcome,), _, _ = engine.validate_rows(
        runner, [(exp, exp.kwargs)], [frame], {}, ["email", "row"], {"email"}
    )
    assert outcome.unexpected_count == 1
    (key,) = outcome.failing_keys
    assert key["row"] == 1
    assert key["email"].startswith("sha256:") and "jane" not in str(outcome.gx_result_dict())


def test_runtime_parameters_catch_future_dates(runner, monkeypatch):
    monkeypatch.setattr("pipelines.quality.runner.shared_parameters", lambda: {})
    suite = parse_suite(
        {
            "name": "raw__dates",
            "meta": {"layer": "raw", "entity": "dates", "key": ["id"]},
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": "d", "max_value": {"$PARAMETER": "future_cutoff_date"}},
                }
            ],
        }
    )
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    con = duckdb.connect()
    con.execute(
        "create temp view source as select * from (values "
        "(1, date '2025-06-02'), (2, date '2025-06-03'), (3, null)) t(id, d)"
    )
    run = run_suite(suite, DuckSource(con, "dates"), pii=set(), now=now, runner=runner)
    (outcome,) = run.outcomes
    assert outcome.unexpected_count == 1  # the 2nd is tomorrow: within the one-day slack
    assert outcome.failing_keys == [{"id": 2}]
