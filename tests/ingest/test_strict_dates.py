"""Dates parse strictly (issue 19.5): no year 0010 from `12/1/10` under `%m/%d/%Y`, dates
outside the plausible window are quarantined with a reason, and a file whose day/month
order is ambiguous under the mapping's formats is reported with its evidence.

Expected values come from Python's own ``datetime`` / ``strftime``, not from the loader.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest import check_file, run_ingest
from pipelines.ingest.loader import run_typing, sandbox
from pipelines.ingest.mapping import parse_mapping
from pipelines.ingest.readers import ROW_COLUMN
from pipelines.ingest.transform import (
    LINEAGE_COLUMNS,
    DateWindow,
    compile_sql,
    day_month_pairs,
    make_plan,
)
from tests.ingest.conftest import land, manifests, quarantine, raw

WINDOW = DateWindow(date(1990, 1, 1), date(2030, 12, 31))
FOUR_DIGIT = ["%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y-%m-%d", "%Y%m%d", "%b %d, %Y", "%d %b %Y"]
SUPPORTED = [*FOUR_DIGIT, "%m/%d/%y", "%d-%m-%y", "%Y/%m/%d", "%B %d, %Y"]
TIMESTAMPS = ["%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%b %d, %Y %I:%M %p"]
FAST = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _mapping(formats: list[str]):
    ordered_at = {"from": "d", "format": formats} if formats else "d"
    return parse_mapping(
        {
            "name": "dates",
            "entity": "orders",
            "source_system": "t",
            "match": {"columns": ["id", "d"]},
            "columns": {
                "order_id": "id",
                "order_line_id": {"const": "1"},
                "ordered_at": ordered_at,
            },
        },
        Path("dates.yaml"),
    )


def _type(values: list[str], formats: list[str], window: DateWindow = WINDOW):
    """Each value typed by the real typing SQL → (ordered_at or None, reason or None)."""
    plan = make_plan(_mapping(formats), ["id", "d"], date_window=window)
    cols = ["id", "d"]
    sql = compile_sql(plan, [ROW_COLUMN, *LINEAGE_COLUMNS, *cols])
    n = len(values)
    chunk = pa.table(
        {
            ROW_COLUMN: pa.array(range(1, n + 1), pa.int64()),
            "__file": pa.array(["f"] * n),
            "__hash": pa.array(["h"] * n),
            "__at": pa.array([datetime(2024, 1, 1)] * n, pa.timestamp("us")),
            "id": pa.array([str(i) for i in range(n)]),
            "d": pa.array(values, pa.string()),
        }
    )
    out = run_typing(_sandbox(), sql, chunk).sort_by("_source_row").to_pydict()
    assert len(out["_reason"]) == n  # every row comes back, typed or with a reason
    return list(zip(out["ordered_at"], out["_reason"], strict=True))


_CON = []


def _sandbox():
    """One typing sandbox for the module's examples (as the loader keeps one per run)."""
    if not _CON:
        _CON.append(sandbox())
    return _CON[0]


def _render(d: date, fmt: str) -> str:
    return datetime(d.year, d.month, d.day).strftime(fmt)


in_window = st.dates(min_value=WINDOW.lo, max_value=WINDOW.hi)


# ---------------------------------------------------------------------------- two-digit years


def test_the_issue_example_is_quarantined_not_year_0010(home):
    (home / "mappings" / "us.yaml").write_text(
        "name: us_orders\nentity: orders\nsource_system: us\n"
        "match: {columns: [Invoice, InvoiceDate, Amount]}\n"
        "columns:\n  order_id: Invoice\n  order_line_id: {const: '1'}\n"
        "  ordered_at: {from: InvoiceDate, format: '%m/%d/%Y %H:%M'}\n  net_amount: Amount\n"
    )
    land(home, "us.csv", "Invoice,InvoiceDate,Amount\n1,12/1/10 8:26,5\n2,12/1/2010 8:26,7\n")
    [f] = run_ingest(home).files
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (2, 1, 1)
    assert raw(home, "orders")["ordered_at"].tolist() == [pd.Timestamp("2010-12-01 08:26")]
    [reason] = quarantine(home, "orders")["reason"].tolist()
    assert reason.startswith("two-digit year '12/1/10 8:26' in ordered_at: %m/%d/%Y %H:%M")


@FAST
@given(days=st.lists(st.dates(), min_size=1, max_size=20), fmt=st.sampled_from(FOUR_DIGIT))
def test_a_two_digit_year_never_loads_under_four_digit_formats(days, fmt):
    values = [_render(d, fmt.replace("%Y", "%y")) for d in days]
    for value, (typed, reason) in zip(values, _type(values, FOUR_DIGIT), strict=True):
        assert typed is None, (value, typed)
        assert reason and "ordered_at" in reason and value in reason


@FAST
@given(day=st.dates(), formats=st.sampled_from([[], ["%d.%m.%Y", "%Y%m%d"]]))
def test_a_short_dotted_or_compact_date_never_becomes_a_year_below_100(day, formats):
    """`1.2.10` (under `%d.%m.%Y` or the built-in fallbacks) and `100102` (under `%Y%m%d`)
    are never the year 10: quarantined with a reason naming the column."""
    values = [f"{day.day}.{day.month}.{day.year % 100:02d}", f"{day:%y%m%d}"]
    for typed, reason in _type(values, formats):
        assert typed is None and "in ordered_at" in reason


# ---------------------------------------------------------------------------- round trips


@FAST
@given(day=in_window, fmt=st.sampled_from(SUPPORTED))
def test_a_date_inside_the_window_round_trips_through_each_format(day, fmt):
    if "%y" in fmt and not 1969 <= day.year <= 2068:  # %y's own century rule
        return
    [(typed, reason)] = _type([_render(day, fmt)], [fmt])
    assert reason is None
    assert typed == datetime(day.year, day.month, day.day)


@FAST
@given(
    moment=st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31, 23, 59, 59)
    ),
    fmt=st.sampled_from(TIMESTAMPS),
)
def test_a_timestamp_inside_the_window_round_trips(moment, fmt):
    text = moment.strftime(fmt)
    [(typed, reason)] = _type([text], [fmt])
    assert reason is None
    assert typed == datetime.strptime(text, fmt)


# ---------------------------------------------------------------------------- the window


outside = st.one_of(
    st.dates(max_value=WINDOW.lo - timedelta(days=1)),
    st.dates(min_value=WINDOW.hi + timedelta(days=1)),
)


@FAST
@given(days=st.lists(outside, min_size=1, max_size=10))
def test_a_date_outside_the_window_is_quarantined_never_loaded(days):
    values = [d.isoformat() for d in days]  # 4-digit years, zero-padded (0010-12-01)
    for value, (_typed, reason) in zip(values, _type(values, ["%Y-%m-%d"]), strict=True):
        assert reason == (
            f"timestamp outside the plausible window [{WINDOW.lo}, {WINDOW.hi}] in ordered_at: "
            f"'{value} → {value} 00:00:00' (config ingest.date_min / date_max)"
        )


def test_window_defaults_and_config():
    today = date(2026, 2, 28)
    assert DateWindow.default(today) == DateWindow(
        date(1990, 1, 1), date(2027, 2, 28), DateWindow.default().exempt
    )
    leap = DateWindow.from_config({"date_max_years_ahead": 1}, date(2028, 2, 29))
    assert leap.hi == date(2029, 2, 28)
    fixed = DateWindow.from_config({"date_min": date(2015, 1, 1), "date_max": "2020-12-31"})
    assert (fixed.lo, fixed.hi) == (date(2015, 1, 1), date(2020, 12, 31))
    with pytest.raises(ValueError, match="ingest.date_max"):
        DateWindow.from_config({"date_max": "next year"})
    with pytest.raises(ValueError, match="after"):
        DateWindow.from_config({"date_min": "2030-01-01", "date_max": "2020-01-01"})


def test_the_home_config_sets_the_window_and_exempt_columns(home):
    (home / "segmart.yaml").write_text(
        "ingest:\n  date_min: 2020-01-01\n  date_max: 2024-12-31\n  date_window_exempt: []\n"
    )
    rows = ["A1,01/02/2019,1", "A2,15/03/2024,2", "A3,01/01/2025,3"]
    land(home, "o.csv", "order_ref,ordered_on,amount\n" + "\n".join(rows) + "\n")
    [f] = run_ingest(home).files
    assert (f.rows_loaded, f.rows_quarantined) == (1, 2)
    assert raw(home, "orders")["order_id"].tolist() == ["A2"]
    reasons = sorted(quarantine(home, "orders")["reason"])
    assert all("[2020-01-01, 2024-12-31] in ordered_at" in r for r in reasons)
    assert "'01/01/2025 → 2025-01-01 00:00:00'" in reasons[0]
    result = check_file(home / "landing" / "o.csv", home)  # the dry run uses the same window
    assert (result.rows_loaded, result.rows_quarantined) == (1, 2)


def test_exempt_columns_keep_real_dates_outside_the_window(home):
    (home / "mappings" / "people.yaml").write_text(
        "name: people\nentity: contacts\nsource_system: t\nmatch: {columns: [id, born]}\n"
        "columns:\n  contact_id: id\n  birth_date: {from: born, format: '%Y-%m-%d'}\n"
        "  created_at: {from: added, format: '%Y-%m-%d'}\n"
    )
    land(home, "people.csv", "id,born,added\n1,1961-07-04,2024-01-02\n2,1975-01-01,1901-01-01\n")
    [f] = run_ingest(home).files
    assert (f.rows_loaded, f.rows_quarantined) == (1, 1)
    assert raw(home, "contacts")["birth_date"].tolist() == [pd.Timestamp("1961-07-04")]
    [reason] = quarantine(home, "contacts")["reason"]
    assert "in created_at: '1901-01-01 → 1901-01-01 00:00:00'" in reason


# ---------------------------------------------------------------------------- reconciliation


values = st.one_of(
    in_window.map(lambda d: _render(d, "%m/%d/%Y")),
    in_window.map(lambda d: _render(d, "%m/%d/%y")),  # two-digit year: quarantined
    outside.map(lambda d: f"{d.month}/{d.day}/{d.year:04d}"),
    st.sampled_from(["", "--", "N/A", "13/45/2020", "yesterday", "2/30/2021"]),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cells=st.lists(values, min_size=1, max_size=25))
def test_rows_read_is_loaded_plus_quarantined(tmp_path_factory, cells):
    home = tmp_path_factory.mktemp("home")
    (home / "mappings").mkdir()
    (home / "mappings" / "us.yaml").write_text(
        "name: us\nentity: orders\nsource_system: us\nmatch: {columns: [ref, day]}\n"
        "columns:\n  order_id: ref\n  order_line_id: {const: '1'}\n"
        "  ordered_at: {from: day, format: '%m/%d/%Y'}\n"
    )
    land(home, "o.csv", "ref,day\n" + "".join(f"R{i},{c}\n" for i, c in enumerate(cells)))
    [f] = run_ingest(home).files
    assert f.rows_read == len(cells) == f.rows_loaded + f.rows_quarantined
    loaded = raw(home, "orders")
    expected = []
    for c in cells:
        try:
            day = datetime.strptime(c, "%m/%d/%Y")
        except ValueError:
            continue
        if len(c.split("/")[-1]) == 4 and WINDOW.lo <= day.date() <= DateWindow.default().hi:
            expected.append(day)
    got = loaded["ordered_at"].tolist() if len(loaded) else []
    assert sorted(got) == sorted(pd.Timestamp(d) for d in expected)


# ---------------------------------------------------------------------------- day/month order


def test_day_month_pairs():
    assert day_month_pairs(["%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M"]) == [
        ("%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M")
    ]
    assert day_month_pairs(["%d.%m.%Y", "%Y-%m-%d"]) == []


EITHER = "name: either\nentity: orders\nsource_system: t\nmatch: {columns: [ref, day]}\n" + (
    "columns:\n  order_id: ref\n  order_line_id: {const: '1'}\n"
    "  ordered_at: {from: day, format: ['%m/%d/%Y', '%d/%m/%Y']}\n"
)


@pytest.mark.parametrize(
    ("days", "verdict"),
    [
        (["1/2/2024", "3/4/2024", "5/5/2024"], "ambiguous: every value fits both"),
        (["1/2/2024", "13/4/2024"], "the file looks %d/%m/%Y: 1 value(s) fit only %d/%m/%Y"),
        (["1/2/2024", "4/13/2024"], "resolved as %m/%d/%Y: 1 value(s) fit only %m/%d/%Y"),
        (["1/2/2024", "4/13/2024", "13/4/2024"], "inconsistent: 1 value(s) fit only %m/%d/%Y"),
    ],
    ids=["all-ambiguous", "file-is-day-first", "file-is-month-first", "mixed"],
)
def test_ambiguous_day_month_order_is_reported_with_evidence(home, days, verdict):
    (home / "mappings" / "either.yaml").write_text(EITHER)
    land(home, "o.csv", "ref,day\n" + "".join(f"R{i},{d}\n" for i, d in enumerate(days)))
    result = check_file(home / "landing" / "o.csv", home)
    [note] = result.date_order
    assert note.startswith("day/month order of ordered_at: " + verdict)
    assert "fit both with different dates (e.g. 1/2/2024" in note
    assert f"dates:    {note}" in str(result)
    [f] = run_ingest(home).files
    assert f.date_order == [note]
    [record] = [m for m in manifests(home) if m["file"] == "o.csv"]
    assert record["date_order"] == [note]
    assert json.dumps(record)  # the evidence is plain JSON in the manifest


def test_unambiguous_files_have_no_date_order_note(home):
    (home / "mappings" / "either.yaml").write_text(EITHER)
    land(home, "o.csv", "ref,day\nR1,12/12/2024\nR2,4/13/2024\nR3,\n")
    [f] = run_ingest(home).files
    assert f.status == "loaded" and f.date_order == []


def test_a_day_first_file_under_a_month_first_mapping_says_so(home):
    """Only %m/%d/%Y listed, the file is day-first: 13/2/2024 is quarantined with a hint,
    and the file's note says the ambiguous values were read month-first."""
    (home / "mappings" / "us.yaml").write_text(
        EITHER.replace("['%m/%d/%Y', '%d/%m/%Y']", "'%m/%d/%Y'")
    )
    land(home, "o.csv", "ref,day\nR1,13/2/2024\nR2,1/2/2024\nR3,25/12/2024\nR4,32/1/2024\n")
    [f] = run_ingest(home).files
    assert (f.rows_loaded, f.rows_quarantined) == (1, 3)
    assert raw(home, "orders")["ordered_at"].tolist() == [pd.Timestamp("2024-01-02")]
    reasons = sorted(quarantine(home, "orders")["reason"])
    hint = "(it fits %d/%m/%Y, which the mapping does not list: day and month swapped?)"
    assert reasons == [
        f"bad timestamp '13/2/2024' in ordered_at {hint}",
        f"bad timestamp '25/12/2024' in ordered_at {hint}",
        "bad timestamp '32/1/2024' in ordered_at",
    ]
    assert f.date_order == [
        "day/month order of ordered_at: 2 value(s) fit only %d/%m/%Y, which the mapping does "
        "not list (quarantined, e.g. 13/2/2024, 25/12/2024); 1 value(s) fit both with "
        "different dates (e.g. 1/2/2024) were read with %m/%d/%Y: the file looks %d/%m/%Y; "
        "list %d/%m/%Y (first) in the mapping"
    ]


def test_a_month_first_file_under_its_own_format_has_no_note(home):
    (home / "mappings" / "us.yaml").write_text(
        EITHER.replace("['%m/%d/%Y', '%d/%m/%Y']", "'%m/%d/%Y'")
    )
    land(home, "o.csv", "ref,day\nR1,1/2/2024\nR2,12/31/2024\n")
    [f] = run_ingest(home).files
    assert (f.rows_loaded, f.rows_quarantined, f.date_order) == (2, 0, [])
