"""The benchmark harness's pure helpers, and a --quick smoke run (slow). No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import agreement, report, run
from benchmarks.measure import run_measured, tree_rss_kb
from benchmarks.phases import group_phases, phase_of, step_durations


def _result(**overrides) -> dict:
    """A complete, valid result document."""
    doc = {
        "scale": 1.0,
        "seed": 42,
        "pipeline_s": 300.0,
        "floor_s": 100.0,
        "pandas_s": 150.0,
        "checks_off_s": 200.0,
        "overhead_s": 40.0,
        "incremental_s": 45.0,
        "peak_rss_mb": {"pipeline": 1500, "floor": 800},
        "spill_mb": {"pipeline": 0.0},
        "rows": 1_200_000,
        "rows_per_s": {},
        "ratios": {},
        "cores": 2,
        "memory_gb": 23.4,
        "commit": "abc1234567",
        "phases": {"full": {"ingest": 100.0, "dbt": 150.0}},
        "agreement": {"ok": True, "reference": "pipeline", "metrics": {}},
        "goals": {},
        "notes": [],
    }
    return doc | overrides


# ----------------------------------------------------------------------------- ratios


def test_ratios_divide_pipeline_by_each_alternative():
    got = report.ratios(
        {
            "pipeline_s": 300.0,
            "floor_s": 100.0,
            "pandas_s": 150.0,
            "checks_off_s": 240.0,
            "incremental_s": 30.0,
        }
    )
    assert got == {
        "a_over_b": 3.0,
        "a_over_r": None,
        "r_over_b": None,
        "a_over_c": 2.0,
        "a_over_d": 1.25,
        "incremental_over_a": 0.1,
    }


def test_replay_ratios_split_orchestration_from_the_models_sql():
    got = report.ratios({"pipeline_s": 300.0, "floor_s": 20.0, "replay_s": 60.0})
    assert got["a_over_r"] == 5.0  # orchestration: the pipeline over its own SQL
    assert got["r_over_b"] == 3.0  # the models' SQL over the hand-written floor
    assert got["a_over_b"] == got["a_over_r"] * got["r_over_b"]


def test_ratio_is_none_when_a_side_is_missing_or_zero():
    assert report.ratio(None, 2.0) is None
    assert report.ratio(2.0, None) is None
    assert report.ratio(2.0, 0.0) is None
    assert report.ratios({"pipeline_s": 10.0})["a_over_b"] is None


def test_rows_per_s_rounds_and_skips_missing_timings():
    got = report.rows_per_s(1000, {"pipeline_s": 3.0, "floor_s": 0.5, "pandas_s": None})
    assert got == {
        "pipeline": 333,
        "floor": 2000,
        "replay": None,
        "pandas": None,
        "checks_off": None,
    }


def test_goals_report_limit_actual_and_met():
    doc = _result(pipeline_s=250.0, floor_s=100.0, incremental_s=40.0)
    doc["peak_rss_mb"] = {"pipeline": 5000}
    got = report.goals(doc)
    assert got["pipeline_within_1.5x_floor_plus_60s"] == {
        "limit_s": 210.0,
        "actual_s": 250.0,
        "met": False,
    }
    assert got["peak_memory_under_4gb"] == {"limit_mb": 4096, "actual_mb": 5000, "met": False}
    assert got["incremental_at_most_15pct"] == {"limit_s": 37.5, "actual_s": 40.0, "met": False}


def test_issue_20_goals_use_the_replay_floor_and_pandas():
    doc = _result(scale=10.0, pipeline_s=400.0, floor_s=50.0, replay_s=200.0, pandas_s=1200.0)
    got = report.goals(doc)
    assert got["pipeline_within_1.5x_replay_plus_60s"] == {
        "limit_s": 360.0,
        "actual_s": 400.0,
        "met": False,
    }
    assert got["pipeline_at_most_450s"]["met"] is True
    assert got["pipeline_2.5x_faster_than_pandas"] == {
        "limit_s": 480.0,
        "actual_s": 400.0,
        "met": True,
    }
    assert got["replay_within_5x_floor"] == {"limit_s": 250.0, "actual_s": 200.0, "met": True}
    # the seconds goal is the scale-10 one; without a replay there is no replay goal
    assert "pipeline_at_most_450s" not in report.goals(_result(scale=1.0))
    assert "pipeline_within_1.5x_replay_plus_60s" not in report.goals(_result())


def test_markdown_shows_the_replay_floor_and_both_ratios():
    doc = _result(replay_s=60.0)
    doc["ratios"] = report.ratios(doc)
    text = report.markdown([doc])
    assert "| (r) replay floor (compiled dbt SQL), s | 60.0 |" in text
    assert "| a/r (orchestration) | 5.0 |" in text
    assert "| r/b (models' SQL) | 0.6 |" in text


# ----------------------------------------------------------------------------- result schema


def test_a_complete_result_validates():
    assert report.validate(_result()) == []


def test_validate_names_missing_and_mistyped_keys():
    doc = _result(cores="two")
    del doc["overhead_s"]
    doc["agreement"] = {"metrics": {}}
    assert report.validate(doc) == [
        "missing key 'overhead_s'",
        "'cores' has type str",
        "agreement lacks 'ok' or 'metrics'",
    ]


def test_a_skipped_measurement_is_none_not_missing():
    assert report.validate(_result(pandas_s=None, incremental_s=None)) == []


def test_write_result_writes_json_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "_commit", lambda: "abc1234567")
    path = run.write_result(_result(), tmp_path)
    assert json.loads(path.read_text())["pipeline_s"] == 300.0
    assert path.name.endswith("_abc1234567_scale-1.json")
    table = (tmp_path / "latest.md").read_text()
    assert "| (a) pipeline, s | 300.0 |" in table
    assert "| a/b | " in table


def test_write_result_refuses_an_invalid_document(tmp_path):
    with pytest.raises(ValueError, match="pipeline_s"):
        run.write_result({k: v for k, v in _result().items() if k != "pipeline_s"}, tmp_path)


def test_latest_per_scale_keeps_the_newest_file_of_each_scale(tmp_path):
    for name, scale, pipeline_s in [
        ("20250101T000000Z_a_scale-1.json", 1.0, 10.0),
        ("20250102T000000Z_b_scale-1.json", 1.0, 20.0),
        ("20250101T000000Z_a_scale-0.1.json", 0.1, 5.0),
    ]:
        (tmp_path / name).write_text(json.dumps(_result(scale=scale, pipeline_s=pipeline_s)))
    (tmp_path / "20250103T000000Z_broken.json").write_text(json.dumps({"scale": 1.0}))
    docs = report.latest_per_scale(tmp_path)
    assert [(d["scale"], d["pipeline_s"]) for d in docs] == [(0.1, 5.0), (1.0, 20.0)]


# ----------------------------------------------------------------------------- agreement


def _values(**changes) -> dict[str, float]:
    base = {m.name: 1000.0 for m in agreement.METRICS}
    return base | changes


def test_identical_outputs_agree():
    got = agreement.compare({"pipeline": _values(), "floor": _values(), "pandas": _values()})
    assert got["ok"] is True
    assert all(m["ok"] for m in got["metrics"].values())


def test_a_count_must_match_exactly():
    got = agreement.compare(
        {"pipeline": _values(), "floor": _values(**{"fct_orders.rows": 1001.0})}
    )
    assert got["ok"] is False
    assert got["metrics"]["fct_orders.rows"] == {
        "pipeline": 1000.0,
        "floor": 1001.0,
        "ok": False,
        "tolerance": "exact",
    }


def test_money_sums_agree_within_relative_tolerance_only():
    close = _values(**{"fct_orders.net_revenue": 1000.0 * (1 + 5e-7)})
    far = _values(**{"fct_orders.net_revenue": 1000.0 * (1 + 5e-6)})
    assert agreement.compare({"pipeline": _values(), "pandas": close})["ok"] is True
    assert agreement.compare({"pipeline": _values(), "pandas": far})["ok"] is False


def test_documented_wider_tolerances():
    sessions = agreement.compare(
        {"pipeline": _values(), "floor": _values(**{"fct_sessions.rows": 1040.0})}
    )
    assert sessions["metrics"]["fct_sessions.rows"]["ok"] is True
    rfm = agreement.compare(
        {
            "pipeline": _values(),
            "floor": _values(**{"dim_customers.rfm.lost": 1019.0}),
            "pandas": _values(**{"dim_customers.rfm.new": 1021.0}),
        }
    )
    assert rfm["metrics"]["dim_customers.rfm.lost"]["ok"] is True  # within 2%
    assert rfm["metrics"]["dim_customers.rfm.new"]["ok"] is False


def test_a_missing_metric_never_agrees():
    values = _values()
    values["dim_accounts.rows"] = None
    got = agreement.compare({"pipeline": _values(), "floor": values})
    assert got["metrics"]["dim_accounts.rows"]["ok"] is False


def test_metrics_are_computed_from_mart_tables(tmp_path):
    import duckdb
    import pandas as pd

    orders = pd.DataFrame(
        {
            "order_id": ["#1", "#2", "#3"],
            "net_revenue": [10.0, 0.001, -4.0],
            "gross_profit": [4.0, 0.0, -1.0],
        }
    )
    orders.to_parquet(tmp_path / "fct_orders.parquet")
    values = agreement.collect_parquet(tmp_path)
    assert values["fct_orders.rows"] == len(orders)
    assert values["fct_orders.net_revenue"] == pytest.approx(orders["net_revenue"].sum())
    assert values["fct_orders.orders_net_positive"] == (orders["net_revenue"] > 0.005).sum()
    assert values["dim_accounts.rows"] is None  # no such mart: the metric fails, no crash

    db = tmp_path / "marts.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table fct_orders as select * from orders")
    assert agreement.collect_duckdb(db)["fct_orders.gross_profit"] == pytest.approx(3.0)


# ----------------------------------------------------------------------------- phases


def test_phase_of_step_keys():
    assert phase_of("ingest_landing") == "ingest"
    assert phase_of("crm__accounts_gx_raw__accounts") == "raw_checks"
    assert phase_of("dim_accounts_gx_mart__dim_accounts") == "mart_checks"
    assert phase_of("segmart_dbt") == "dbt"
    assert phase_of("serving__marts") == "publish"
    assert phase_of("something_else") == "other"


def test_step_durations_pair_start_and_end_events():
    events = [
        ("STEP_START", "ingest_landing", 100.0),
        ("STEP_SUCCESS", "ingest_landing", 130.0),
        ("STEP_START", "segmart_dbt", 131.0),
        ("STEP_FAILURE", "segmart_dbt", 151.5),
        ("STEP_START", "never_finished", 152.0),
    ]
    assert step_durations(events) == {"ingest_landing": 30.0, "segmart_dbt": 20.5}


def test_group_phases_adds_startup_and_unaccounted_run_time():
    steps = {"ingest_landing": 30.0, "segmart_dbt": 20.0, "x_gx_raw__orders": 5.0}
    got = group_phases(steps, wall_s=70.0, run_s=60.0)
    assert got == {
        "startup": 10.0,
        "ingest": 30.0,
        "raw_checks": 5.0,
        "dbt": 20.0,
        "mart_checks": 0.0,
        "publish": 0.0,
        "other": 5.0,
    }


# ----------------------------------------------------------------------------- measuring


def test_run_measured_sees_a_grandchild_memory(tmp_path):
    """The RSS of the whole tree counts: a child that starts a 200 MB grandchild."""
    grandchild = "b = bytearray(200 * 2**20); import time; time.sleep(1.5)"
    child = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    m = run_measured([sys.executable, "-c", child], interval=0.05)
    assert m.returncode == 0
    assert m.peak_tree_rss_mb > 200


def test_tree_rss_of_a_running_process_includes_itself():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)
        assert tree_rss_kb(proc.pid) > 1000  # a Python interpreter is more than 1 MB
    finally:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------- datasets


def _fake_landing(root: Path) -> Path:
    landing = root / "landing"
    files = {
        "web/ga4/events_20241230.jsonl.gz": 10,
        "web/ga4/events_20241231.jsonl.gz": 11,
        "web/ga4/events_20250101.jsonl.gz": 2,
        "ads/tiktok_ads/tiktok_campaign_report_20241101-20241130.csv": 150,
        "ads/tiktok_ads/tiktok_campaign_report_20241201-20241231.csv": 155,
        "crm/shopify/orders_export_1.csv": 500,
    }
    for rel in files:
        (landing / rel).parent.mkdir(parents=True, exist_ok=True)
        (landing / rel).write_text(rel)
    expected = {
        "window": {"start": "2023-01-01", "end": "2024-12-31"},
        "files": {rel: {"data_rows": n} for rel, n in files.items()},
    }
    (landing / "_expected.json").write_text(json.dumps(expected))
    return landing


def test_new_day_is_the_last_ga4_day_its_late_file_and_the_last_ad_report(tmp_path):
    landing = _fake_landing(tmp_path)
    held = {p.relative_to(landing).as_posix() for p in run.held_out_files(landing)}
    assert held == {
        "web/ga4/events_20241231.jsonl.gz",
        "web/ga4/events_20250101.jsonl.gz",
        "ads/tiktok_ads/tiktok_campaign_report_20241201-20241231.csv",
    }


def test_split_partitions_the_landing_and_counts_base_rows(tmp_path):
    landing = _fake_landing(tmp_path)
    run.split_new_day(landing, tmp_path)
    base = {p.relative_to(tmp_path / "base").as_posix() for p in (tmp_path / "base").rglob("*")}
    new = {
        p.relative_to(tmp_path / "new_day").as_posix() for p in (tmp_path / "new_day").rglob("*")
    }
    base_files = {p for p in base if (tmp_path / "base" / p).is_file()}
    new_files = {p for p in new if (tmp_path / "new_day" / p).is_file()}
    every = {p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()}
    assert base_files | new_files == every
    assert not base_files & new_files
    assert run.landing_rows(tmp_path / "base") == 10 + 150 + 500


# ----------------------------------------------------------------------------- smoke


@pytest.mark.slow
def test_quick_smoke_run_of_floor_and_pandas(tmp_path):
    """``--quick`` end to end for (b) and (c): dataset, runs, agreement, JSON and Markdown.

    The pipeline steps take minutes even at a tiny scale (one Dagster run per case), so the
    smoke run leaves them to ``make bench``."""
    code = run.main(["--quick", "--steps", "floor,pandas", "--results-dir", str(tmp_path)])
    (path,) = tmp_path.glob("*.json")
    doc = json.loads(path.read_text())
    assert report.validate(doc) == []
    assert doc["scale"] == run.QUICK_SCALE
    assert doc["agreement"]["reference"] == "floor"
    assert doc["agreement"]["ok"] is True, doc["agreement"]
    assert code == 0
    assert doc["rows"] > 0
    assert doc["pipeline_s"] is None
    assert (tmp_path / "latest.md").read_text().count("| a, b, c (and r) agree | yes |") == 1
