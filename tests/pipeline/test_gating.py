"""A failing Great Expectations check stops everything downstream of it (same run)."""

from __future__ import annotations

import duckdb
import pytest

from tests.pipeline.runner import check_results, materialized_keys, run_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gating")]

GOOD_ROWS = [
    ("2024-03-01", "111", "Brand search", "1,200", "80", "150.00"),
    ("2024-03-02", "111", "Brand search", "1,100", "75", "140.00"),
]
NEGATIVE_SPEND = ("2024-03-03", "111", "Brand search", "900", "60", "-250.00")


def _google_ads_report(rows) -> str:
    lines = [
        "Campaign report",
        '"March 1, 2024 - March 31, 2024"',
        "Day,Campaign ID,Campaign,Impr.,Clicks,Cost,Currency code",
    ]
    lines += [",".join(f'"{v}"' for v in row) + ",USD" for row in rows]
    lines.append("Total: Campaigns,,,,,,")
    return "\n".join(lines) + "\n"


def test_negative_spend_blocks_dbt_and_publish(tmp_path):
    landing = tmp_path / "landing" / "ads"
    landing.mkdir(parents=True)
    (landing / "Campaign report 2024-03.csv").write_text(
        _google_ads_report([*GOOD_ROWS, NEGATIVE_SPEND])
    )
    result = run_job(tmp_path)

    checks = check_results(result)
    assert checks["ads/ad_spend_daily :: gx_raw__ad_spend_daily"] is False
    keys = materialized_keys(result)
    assert "ads/ad_spend_daily" in keys  # the raw layer itself is written (and kept)
    assert not any(k.startswith(("stg_", "int_", "dim_", "fct_", "kpi_")) for k in keys)
    assert "serving/marts" not in keys
    assert not (tmp_path / "serving" / "marts.duckdb").exists()
    # the bad row is in the raw layer, not silently dropped
    with duckdb.connect() as con:
        raw = con.execute(
            "select sum(spend) from read_parquet(?)", [f"{tmp_path}/raw/ad_spend_daily/*.parquet"]
        ).fetchone()[0]
    assert raw == pytest.approx(150.0 + 140.0 - 250.0)


def test_a_later_run_does_not_build_on_a_failed_check(tmp_path):
    """Gating across runs: a run that selects only the dbt models (as a schedule, a sensor or a
    partial materialisation from the UI might) refuses while the raw check's latest evaluation
    failed, and proceeds once the bad file is replaced and the check passes."""
    import dagster as dg

    from pipelines.definitions import defs
    from tests.pipeline.runner import home_env

    landing = tmp_path / "landing" / "ads"
    landing.mkdir(parents=True)
    bad = landing / "Campaign report 2024-03.csv"
    bad.write_text(_google_ads_report([*GOOD_ROWS, NEGATIVE_SPEND]))
    with dg.DagsterInstance.ephemeral() as instance, home_env(tmp_path):
        definitions = defs()
        first = definitions.resolve_job_def("segmart_full").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not first.success

        # the models downstream of the failed raw entity (the CRM staging models do not read
        # ad spend: their own upstream checks gate them)
        dbt_only = dg.define_asset_job(
            "dbt_only", selection=dg.AssetSelection.groups("staging_ads")
        )
        later = dg.Definitions.merge(definitions, dg.Definitions(jobs=[dbt_only]))
        second = later.resolve_job_def("dbt_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert not second.success
        failures = [e for e in second.all_events if e.is_step_failure]
        message = failures[0].event_specific_data.error.message
        assert "gx_raw__ad_spend_daily" in message
        assert not materialized_keys(second)


def test_a_sensor_triggered_run_stays_blocked_until_the_bad_rows_are_gone(tmp_path):
    """New, clean files make the landing sensor start a run; the raw check re-evaluates the
    whole raw layer, still finds the bad row, and the run builds nothing downstream."""
    import os
    import time

    import dagster as dg

    from pipelines.core.resources import SegmartHome
    from pipelines.definitions import defs
    from tests.pipeline.runner import home_env

    landing = tmp_path / "landing" / "ads"
    landing.mkdir(parents=True)
    (landing / "Campaign report 2024-03.csv").write_text(
        _google_ads_report([*GOOD_ROWS, NEGATIVE_SPEND])
    )
    with dg.DagsterInstance.ephemeral() as instance, home_env(tmp_path):
        definitions = defs()
        job = definitions.resolve_job_def("segmart_full")
        assert not job.execute_in_process(instance=instance, raise_on_error=False).success

        clean = landing / "Campaign report 2024-04.csv"
        clean.write_text(
            _google_ads_report([("2024-04-01", "111", "Brand search", "10", "1", "5")])
        )
        old = time.time() - 3600  # complete long ago: past the size-stability wait
        os.utime(clean, (old, old))
        sensor = definitions.resolve_sensor_def("landing_files_sensor")
        context = dg.build_sensor_context(
            instance=instance, resources={"segmart": SegmartHome(home=str(tmp_path))}
        )
        request = sensor(context)
        assert isinstance(request, dg.RunRequest)

        triggered = job.execute_in_process(
            instance=instance, raise_on_error=False, tags=request.tags
        )
        assert not triggered.success
        assert check_results(triggered)["ads/ad_spend_daily :: gx_raw__ad_spend_daily"] is False
        keys = materialized_keys(triggered)
        assert not any(k.startswith(("stg_", "dim_", "kpi_")) for k in keys)
        assert "serving/marts" not in keys
