"""Raw suites read each file's rows until no error fails on them, then only new or changed
files (pipelines/quality/validated_files.py); schema, counts and aggregates read everything."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from pipelines.core.settings import home_paths
from pipelines.quality import validated_files
from pipelines.quality.checks import validate_raw
from quality.raw_layer import ad_spend, write_raw

ENTITY = "ad_spend_daily"
SPEND_RULE = "expect_column_values_to_be_between(spend)"


def _validate(home: Path):
    return validate_raw(home_paths(home), ENTITY)


def _outcome(run, label: str):
    return next(o for o in run.outcomes if o.expectation.label == label)


def _month(month: int, **kwargs):
    frame = ad_spend(days=28, **kwargs)
    frame["spend_date"] = [d.replace(month=month) for d in frame["spend_date"]]
    return frame


def _ledger(home: Path) -> Path:
    return home / "state" / "quality" / f"raw__{ENTITY}.files.json"


def test_each_file_is_read_until_it_passes_then_only_new_files(tmp_path: Path) -> None:
    write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    write_raw(tmp_path, ENTITY, _month(2), name="feb.csv")
    first = _validate(tmp_path)
    assert first.passed, first.notes
    assert first.rows_checked == 2 * 56 and first.row_count == 112
    assert _ledger(tmp_path).exists()

    nothing_new = _validate(tmp_path)
    assert nothing_new.passed
    assert nothing_new.rows_checked == 0 and nothing_new.row_count == 112
    assert any("on 0 new or changed of 2 raw files" in n for n in nothing_new.notes)

    write_raw(tmp_path, ENTITY, _month(3), name="mar.csv")
    third = _validate(tmp_path)
    assert third.passed
    assert third.rows_checked == 56 and third.row_count == 168
    assert _outcome(third, SPEND_RULE).element_count == 56
    # row counts and aggregates still see every file
    counts = [o for o in third.outcomes if o.expectation.route == "row_count"]
    assert counts and all(o.observed_value == 168 for o in counts)


def test_a_failing_file_is_checked_again_until_it_is_fixed(tmp_path: Path) -> None:
    write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    assert _validate(tmp_path).passed
    bad = _month(2)
    bad.loc[[3, 5], "spend"] = -1.0
    bad_path = write_raw(tmp_path, ENTITY, bad, name="feb.csv")
    write_raw(tmp_path, ENTITY, _month(3), name="mar.csv")

    for _ in range(2):  # the ledger does not move while the suite fails
        run = _validate(tmp_path)
        assert not run.passed and run.blocking_failure
        spend = _outcome(run, SPEND_RULE)
        assert spend.unexpected_count == 2 and spend.element_count == 112
        assert {k["_source_file"] for k in spend.failing_keys} == {"feb.csv"}
        assert run.rows_checked == 112

    bad_path.unlink()  # the user removes the bad export's rows
    fixed = _validate(tmp_path)
    assert fixed.passed
    assert fixed.rows_checked == 56  # march only: january passed before


def test_a_warning_is_reported_once_by_the_run_that_reads_the_file(tmp_path: Path) -> None:
    write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    odd = _month(2)
    odd.loc[0, "platform"] = "myspace_ads"  # warn severity
    write_raw(tmp_path, ENTITY, odd, name="feb.csv")
    first = _validate(tmp_path)
    assert not first.passed and not first.blocking_failure
    assert first.rows_checked == 112
    again = _validate(tmp_path)  # warnings never block: the files count as read
    assert again.passed and again.rows_checked == 0


def test_a_rewritten_file_is_checked_again(tmp_path: Path) -> None:
    path = write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    write_raw(tmp_path, ENTITY, _month(2), name="feb.csv")
    assert _validate(tmp_path).passed
    rewritten = _month(1)
    rewritten.loc[0, "spend"] = -5.0  # as if erasure rewrote it, here with a bad row
    write_raw(tmp_path, ENTITY, rewritten, name="jan.csv")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    run = _validate(tmp_path)
    assert run.rows_checked == 56
    assert _outcome(run, SPEND_RULE).unexpected_count == 1


def test_a_changed_suite_checks_every_file_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    write_raw(tmp_path, ENTITY, _month(2), name="feb.csv")
    assert _validate(tmp_path).passed
    assert _validate(tmp_path).rows_checked == 0
    shared = validated_files.shared_parameters()
    monkeypatch.setattr(
        validated_files, "shared_parameters", lambda: {**shared, "new_currency_list": ["XTS"]}
    )
    assert _validate(tmp_path).rows_checked == 112


def test_all_files_mode_reads_every_row_every_time(tmp_path: Path) -> None:
    (tmp_path / "segmart.yaml").write_text("quality:\n  raw_rows: all_files\n")
    write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    assert _validate(tmp_path).rows_checked == 56
    assert _validate(tmp_path).rows_checked == 56
    (tmp_path / "segmart.yaml").write_text("quality:\n  raw_rows: some_files\n")
    with pytest.raises(ValueError, match="raw_rows must be one of"):
        _validate(tmp_path)


def test_duplicates_within_a_new_file_are_found(tmp_path: Path) -> None:
    write_raw(tmp_path, ENTITY, _month(1), name="jan.csv")
    assert _validate(tmp_path).passed
    twice = _month(2)
    twice = pd.concat([twice, twice.iloc[[0]]], ignore_index=True)
    write_raw(tmp_path, ENTITY, twice, name="feb.csv")
    run = _validate(tmp_path)
    failed = [o.expectation.label for o in run.failed]
    assert any(label.startswith("expect_compound_columns_to_be_unique") for label in failed)
