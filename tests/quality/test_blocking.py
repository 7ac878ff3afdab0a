"""A failing blocking GX check stops downstream assets in the same run; a passing one does not."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.core.resources import SegmartHome
from pipelines.quality.checks import build_raw_check
from quality.raw_layer import ad_spend, write_raw

RAW_KEY = dg.AssetKey(["ads", "ad_spend_daily"])
DOWNSTREAM_KEY = dg.AssetKey(["stg_ads__ad_spend_daily"])


def _job_parts(frame):
    @dg.asset(key=RAW_KEY)
    def raw_spend(segmart: SegmartHome) -> None:
        write_raw(segmart.paths.root, "ad_spend_daily", frame)

    @dg.asset(key=DOWNSTREAM_KEY, deps=[RAW_KEY])
    def staged() -> None:
        return None

    return [raw_spend, staged, build_raw_check("ad_spend_daily", "ads")]


def _run(tmp_path, frame) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        _job_parts(frame),
        resources={"segmart": SegmartHome(home=str(tmp_path))},
        raise_on_error=False,
    )


def _materialized(result) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


def test_negative_spend_blocks_downstream_in_the_same_run(tmp_path):
    frame = ad_spend(days=10)
    frame.loc[[2, 7], "spend"] = -1.0  # breaks "spend >= 0" (error)
    result = _run(tmp_path, frame)

    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    results = evaluation.metadata["results"].value
    spend = next(
        r for r in results if r["expectation"] == "expect_column_values_to_be_between(spend)"
    )
    assert spend["unexpected_count"] == 2
    assert sorted(k["_source_row"] for k in spend["failing_keys_sample"]) == [3, 8]
    assert evaluation.metadata["rows_checked"].value == len(frame)
    assert _materialized(result) == {RAW_KEY}
    assert not result.success


def test_warn_only_failure_reports_but_does_not_block(tmp_path):
    frame = ad_spend(days=10)
    frame.loc[0, "platform"] = "myspace_ads"  # unknown platform: warn severity
    result = _run(tmp_path, frame)

    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["failed_expectations"].value == [
        "expect_column_values_to_be_in_set(platform)"
    ]
    assert _materialized(result) == {RAW_KEY, DOWNSTREAM_KEY}


@pytest.mark.parametrize("days", [40])
def test_clean_data_passes_and_links_data_docs(tmp_path, days):
    result = _run(tmp_path, ad_spend(days=days))

    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed, evaluation.metadata["summary"].value
    docs = evaluation.metadata["data_docs"].value
    assert docs.startswith(str(tmp_path / "serving" / "quality"))
    assert "raw__ad_spend_daily" in Path(docs).read_text(encoding="utf-8")
    assert (tmp_path / "serving" / "quality" / "index.html").exists()
    assert _materialized(result) == {RAW_KEY, DOWNSTREAM_KEY}


@pytest.mark.parametrize(
    ("daily_spend", "blocks"),
    [(100.0, True), (1.0, False)],
    ids=["material-spend-collapses", "immaterial-spend-is-noise"],
)
def test_spend_per_day_collapsing_to_zero_blocks(tmp_path, daily_spend, blocks):
    """The last day's total spend drops to 0 after 39 days at a steady level: an error when the
    trailing median is material (>= 50), noise that does not block when it is not."""
    frame = ad_spend(days=40, spend=daily_spend)
    last_day = frame["spend_date"].max()
    frame.loc[frame["spend_date"] == last_day, "spend"] = 0.0
    result = _run(tmp_path, frame)

    (evaluation,) = result.get_asset_check_evaluations()
    failed = evaluation.metadata["failed_expectations"].value if not evaluation.passed else []
    collapse_failed = "expect_column_values_to_be_between(total_spend_per_day_collapse)" in failed
    if blocks:
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert collapse_failed
        assert _materialized(result) == {RAW_KEY}
    else:
        assert not collapse_failed
        assert _materialized(result) == {RAW_KEY, DOWNSTREAM_KEY}


def test_the_gate_says_what_to_do_for_each_kind_of_failing_check():
    from pipelines.core.gate import what_to_do

    raw = "ads/ad_spend_daily: gx_raw__ad_spend_daily (run 1)"
    rec = "stg_crm__orders: reconcile_raw_to_staging (run 1)"
    mart = "fct_orders: gx_mart__fct_orders (run 1)"
    assert "landing file" in what_to_do([raw])
    assert "landing file" not in what_to_do([rec]) and "failing keys" in what_to_do([rec])
    assert "upstream models" in what_to_do([mart]) and "landing file" not in what_to_do([mart])
    both = what_to_do([raw, mart])
    assert "landing file" in both and "upstream models" in both
