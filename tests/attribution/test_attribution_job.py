"""Markov and Shapley attribution inside the real Dagster job (no mocks).

The shared demo home (scale 0.01, seed 11, full job with checks; tests/shared_homes.py) is
read, never changed: the job ran ingest → dbt → ml/attribution_channel_credits → the dbt
models after it (fct_attribution, the channel KPI marts) → publish. The credits are compared
with an independent computation from the warehouse's fct_conversions and fct_touchpoints
(tests/attribution/independent.py: pandas joins, exact fractions).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from tests.attribution import independent
from tests.shared_homes import StoredRun, demo_home

pytestmark = [pytest.mark.slow]

DATA_DRIVEN = ("markov", "shapley")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = demo_home(tmp_path_factory)
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        tables = {
            name: con.execute(f"select * from {relation}").df()
            for name, relation in (
                ("conversions", "marts.fct_conversions"),
                ("touches", "marts.fct_touchpoints"),
                ("attribution", "marts.fct_attribution"),
                ("by_model", "marts.kpi_channel_monthly_by_model"),
                ("credits", "ml.attribution_channel_credits"),
            )
        }
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables["served_models"] = set(
            con.execute("select distinct attribution_model from fct_attribution").df()[
                "attribution_model"
            ]
        )
    return StoredRun(home), tables


def test_job_runs_attribution_between_dbt_models(demo):
    run, tables = demo
    assert run.success
    order = [
        e.asset_key.to_user_string()
        for e in run.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    step = order.index("ml/attribution_channel_credits")
    assert order.index("fct_touchpoints") < step and order.index("fct_conversions") < step
    assert step < order.index("fct_attribution") < order.index("kpi_channel_monthly_by_model")
    assert len(tables["credits"]) > 0
    assert set(DATA_DRIVEN) <= tables["served_models"]  # published to the serving copy


def test_every_conversion_credited_once_per_model(demo):
    _, tables = demo
    attribution = tables["attribution"]
    conversions = tables["conversions"]
    for model in DATA_DRIVEN:
        rows = attribution[attribution["attribution_model"] == model]
        sums = rows.groupby("conversion_key")["credit"].apply(
            lambda credits: sum((Decimal(str(c)) for c in credits), Decimal(0))
        )
        assert set(sums.index) == set(conversions["conversion_key"]), model
        assert (sums == Decimal(1)).all(), model
        assert (rows["credit"].map(lambda c: Decimal(str(c))) >= 0).all(), model
        # the same touches as the rule models
        linear = attribution[attribution["attribution_model"] == "linear"]
        assert sorted(rows["attribution_key"].str.replace(f"|{model}|", "|")) == sorted(
            linear["attribution_key"].str.replace("|linear|", "|")
        )
        assert rows["attributed_revenue"].sum() == pytest.approx(conversions["revenue"].sum())


def test_credits_equal_independent_computation(demo):
    _, tables = demo
    journeys = independent.journeys_from_marts(tables["conversions"], tables["touches"])
    attribution = tables["attribution"]
    touched = attribution[
        attribution["attribution_model"].isin(DATA_DRIVEN) & attribution["touchpoint_id"].notna()
    ].assign(credit=lambda f: f["credit"].astype(float))
    got = touched.groupby(["conversion_key", "attribution_model", "channel"])["credit"].sum()
    checked = 0
    for kind, kind_journeys in journeys.items():
        for (key, model), want in independent.expected_credits(kind_journeys).items():
            have = got.loc[(key, model)].to_dict()
            assert have == pytest.approx(want, abs=1e-6), (kind, key, model)
            checked += 1
    assert checked == 2 * touched["conversion_key"].nunique() > 0


def test_channel_kpis_by_model_carry_the_new_models(demo):
    _, tables = demo
    by_model = tables["by_model"]
    attribution = tables["attribution"]
    for model in DATA_DRIVEN:
        rows = by_model[by_model["attribution_model"] == model]
        assert len(rows) > 0
        expected = (
            attribution[attribution["attribution_model"] == model]
            .groupby(["conversion_month", "channel"])["attributed_revenue"]
            .sum()
        )
        have = rows.set_index(["month_start", "channel"])["attributed_revenue"]
        for (month, channel), value in expected.items():
            assert have.loc[(month, channel)] == pytest.approx(value, abs=1e-6)
        # spend repeated on every model's row
        linear = by_model[by_model["attribution_model"] == "linear"].set_index(
            ["month_start", "channel"]
        )["spend"]
        assert (
            rows.set_index(["month_start", "channel"])["spend"]
            .sort_index()
            .equals(linear.sort_index())
        )
