"""The folded column test (dbt_project/macros/tests/column_rules.sql, issue 20.4).

One ``column_rules`` test per model checks its ``not_null``, ``unique`` and
``accepted_values`` columns in one query. On the real Maven CRM deals it passes; with a null,
a duplicate and values outside the accepted lists planted in the built table it fails, and
its failing rows name each broken column and rule with the number of bad rows and sample
values, computed here with pandas apart from the macro.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dbt_invoke import DBT_EXECUTABLE, dbt_build
from raw_builder import write_raw
from segments_fixtures import maven_frames

from pipelines.core.settings import DBT_PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]

MODEL = "int_opportunities_enriched"  # not_null + unique opportunity_id, two accepted lists
ACCEPTED = {"stage_category": ["open", "won", "lost"], "deal_type": ["new", "renewal", "upsell", "service"]}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared_fixtures):
    """The model and its parents built on the real Maven deals; its tests ran and passed."""
    home = tmp_path_factory.mktemp("column_rules_home")
    write_raw(home, maven_frames(shared_fixtures / "maven_crm_sales_opportunities"))
    target = tmp_path_factory.getbasetemp() / "dbt_target_column_rules"
    log = dbt_build(home, target, select=f"+{MODEL}")
    return home, target, log


def _dbt_test(home: Path, target: Path) -> subprocess.CompletedProcess:
    args = [
        str(DBT_EXECUTABLE), "test",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
        "--log-path", str(target / "logs"),
        "--select", f"{MODEL},test_name:column_rules",
        "--store-failures",
        "--log-format", "text",
    ]  # fmt: skip
    env = {**os.environ, "SEGMART_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(args, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)


def _warehouse(home: Path) -> Path:
    return home / "warehouse" / "segmart.duckdb"


def test_the_real_deals_pass_in_one_query(built):
    home, _, log = built
    passed = re.findall(r"PASS column_rules_" + MODEL, log)
    assert len(passed) == 1, log[-3000:]
    # the folded test replaced the per-column tests of the model: none of them ran
    assert not re.search(rf"(not_null|unique|accepted_values)_{MODEL}", log)
    with duckdb.connect(str(_warehouse(home)), read_only=True) as con:
        rows = con.execute(f"select count(*) from intermediate.{MODEL}").fetchone()[0]
    assert rows == 8800  # every Maven deal, so the test had something to check


def _expected_failures(frame: pd.DataFrame) -> set[tuple]:
    """(column, rule, failing rows, min sample, max sample), as dbt's own tests define them."""
    out = set()
    ids = frame["opportunity_id"]
    if ids.isna().any():
        out.add(("opportunity_id", "not_null", int(ids.isna().sum()), None, None))
    counts = ids.dropna().value_counts()
    duplicated = counts[counts > 1]
    if len(duplicated):
        values = sorted(duplicated.index.astype(str))
        out.add(("opportunity_id", "unique", int(duplicated.sum()), values[0], values[-1]))
    for column, accepted in ACCEPTED.items():
        bad = frame[column].dropna()
        bad = sorted(bad[~bad.isin(accepted)].astype(str))
        if bad:
            out.add((column, "accepted_values", len(bad), bad[0], bad[-1]))
    return out


@pytest.fixture(scope="module")
def planted(built, tmp_path_factory):
    """A copy of the built home with a null, a duplicate and bad values planted in the model;
    (home, expected failures computed in pandas, the finished ``dbt test``)."""
    home, target, _ = built
    planted = tmp_path_factory.mktemp("planted") / "home"
    shutil.copytree(home, planted)
    with duckdb.connect(str(_warehouse(planted))) as con:
        ids = [r[0] for r in con.execute(f"""
            select opportunity_id from intermediate.{MODEL}
            where stage_category = 'won' and deal_type = 'new' order by opportunity_id limit 6
        """).fetchall()]  # fmt: skip
        table = f"intermediate.{MODEL}"
        con.execute(f"update {table} set opportunity_id = null where opportunity_id = ?", [ids[0]])
        con.execute(f"update {table} set opportunity_id = ? where opportunity_id = ?", ids[1:3])
        con.execute(f"update {table} set stage_category = 'pending' where opportunity_id = ?", [ids[3]])  # fmt: skip
        con.execute(f"update {table} set stage_category = 'Won' where opportunity_id = ?", [ids[4]])
        con.execute(f"update {table} set deal_type = 'churn' where opportunity_id = ?", [ids[5]])
        frame = con.execute(f"select * from {table}").df()
    expected = _expected_failures(frame)
    assert {(c, r) for c, r, *_ in expected} == {
        ("opportunity_id", "not_null"),
        ("opportunity_id", "unique"),
        ("stage_category", "accepted_values"),
        ("deal_type", "accepted_values"),
    }

    return planted, expected, _dbt_test(planted, target)


def test_planted_bad_values_fail_and_name_their_columns(planted):
    planted, expected, done = planted
    assert done.returncode == 1, done.stdout[-3000:]
    total = sum(n for _, _, n, *_ in expected)
    assert re.search(rf"Failure in test column_rules_{MODEL}", done.stdout), done.stdout[-3000:]
    assert f"Got {total} results" in done.stdout, done.stdout[-3000:]

    with duckdb.connect(str(_warehouse(planted)), read_only=True) as con:
        (schema, name), *others = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name like 'column_rules_%'"
        ).fetchall()
        assert not others
        stored = con.execute(
            "select column_name, rule, failing_rows, sample_min, sample_max "
            f'from "{schema}"."{name}"'
        ).fetchall()
    assert set(stored) == expected


def test_the_run_summary_names_the_broken_columns_and_rules(built, planted, tmp_path, monkeypatch):
    """`segmart run`'s explanation of a failed column_rules test (pipelines/automation/
    progress.py) lists each broken column and rule with its bad rows, from the test's compiled
    SQL in dbt's target directory; values outside an accepted list are shown, never samples of
    a null or duplicated column."""
    import dagster as dg

    from pipelines.automation.progress import RunProgress, column_rules_failures, explain_failures

    planted, expected, _ = planted
    _, target, _ = built
    unique_id = next(
        f"test.segmart.{p.stem}.x" for p in target.glob(f"compiled/**/column_rules_{MODEL}.sql")
    )
    lines = column_rules_failures(unique_id, _warehouse(planted), target)
    want = []
    for column, rule, bad, low, high in sorted(expected, key=lambda e: (-e[2], e[0], e[1])):
        line = f"      {column}: {rule}, {bad:,} rows"
        if rule == "accepted_values":
            line += f" (values outside the list: {low}" + (f" … {high})" if high != low else ")")
        want.append(line)
    assert lines == want[:3] + [f"      … and {len(want) - 3} more broken rules"]
    assert not any("values outside" in x for x in lines if "accepted_values" not in x)

    # through the run summary: the home's dbt target directory, as dagster-dbt leaves it
    shutil.copytree(target / "compiled", planted / "state" / "dbt_target" / "run1" / "compiled")
    progress = RunProgress()
    progress.phases[2].failed.append(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(MODEL),
            check_name=f"column_rules_{MODEL}",
            passed=False,
            metadata={
                "status": "fail",
                "unique_id": unique_id,
                "dagster_dbt/failed_row_count": sum(n for _, _, n, *_ in expected),
            },
            severity=dg.AssetCheckSeverity.ERROR,
        )
    )
    monkeypatch.setenv("SEGMART_HOME", str(planted))
    text = explain_failures(progress, None)
    assert text[-len(lines) :] == lines, text
    # no compiled SQL (another home): the lines dbt gave, nothing invented
    assert column_rules_failures(unique_id, _warehouse(planted), tmp_path / "none") == []
