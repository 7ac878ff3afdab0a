"""The Python model steps keep their outputs when nothing they read changed, in the real job.

One small real home (the UCI Online Retail II invoices of the first 80 customer ids), four
runs of the real Dagster job (tests/pipeline/runner.py), one module-scoped sequence:

1. first run: every step fits and records the signature of its inputs;
2. the same landing again: CLV, both cluster steps and attribution say "inputs unchanged:
   kept", do not rewrite their tables (the signature rows keep their time) and the kept tables
   equal what a fit of the same inputs gives now;
3. only ``clv:`` changed in the home's segmart.yaml: CLV refits (its tables change), the
   others keep theirs;
4. one more invoice line of an existing customer on a day already in the data (a new landing
   file in the shape of the real export): CLV, the customer clusters and attribution refit,
   the account clusters (no account changed) keep theirs.

Covers pipelines/clv, pipelines/segments and pipelines/attribution (one home for the three,
so one sequence of runs).
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from pipelines.clv.config import clv_spec
from pipelines.clv.predict import run_clv
from pipelines.clv.warehouse import read_purchases
from pipelines.core.settings import load_config
from pipelines.segments.config import cluster_spec
from pipelines.segments.kmeans import fit_clusters
from pipelines.segments.warehouse import read_features
from tests.pipeline.runner import run_job

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("clv_unchanged")]

UCI = "uci_online_retail_ii_2009_2010/online_retail_II_2009-2010.parquet"
KEPT = "inputs unchanged: kept"
REFITTED = "inputs changed: refitted"
STEP_ASSETS = {
    "customer_clv": "ml/customer_clv",
    "account_clusters": "ml/account_clusters",
    "customer_clusters": "ml/customer_clusters",
    "attribution_channel_credits": "ml/attribution_channel_credits",
}
TABLES = [
    "customer_clv",
    "clv_holdout",
    "clv_fits",
    "customer_clusters",
    "customer_cluster_profiles",
    "account_clusters",
    "account_cluster_profiles",
    "attribution_channel_credits",
]


def _results(result) -> dict[str, str]:
    """{asset: the 'result' metadata of its materialization} of one run."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            value = materialization.metadata.get("result")
            if value is not None:
                out[materialization.asset_key.to_user_string()] = value.value
    return out


def _snapshot(home) -> dict:
    """Every ml table (sorted, as pandas) and the signature rows."""
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        tables = {t: con.sql(f"select * from ml.{t} order by all").df() for t in TABLES}
        signatures = con.sql("select * from ml.step_signatures order by step").df()
    return {"tables": tables, "signatures": signatures.set_index("step")}


def _fresh_fits(home) -> dict[str, pd.DataFrame]:
    """The customer clusters and the CLV per customer fitted now on the warehouse's inputs."""
    config = load_config(home)
    spec = cluster_spec(config, "customers")
    with duckdb.connect(str(home / "warehouse" / "segmart.duckdb"), read_only=True) as con:
        purchases, as_of = read_purchases(con)
        features = read_features(con, spec)
    return {
        "customer_clusters": fit_clusters(features, spec).assignments,
        "customer_clv": run_clv(purchases, as_of, clv_spec(config)).customers,
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_fixtures):
    home = tmp_path_factory.mktemp("unchanged_home")
    shop = home / "landing" / "shop"
    shop.mkdir(parents=True)
    retail = pd.read_parquet(shared_fixtures / UCI)
    kept = sorted(retail["Customer ID"].dropna().unique())[:80]
    sample = retail[retail["Customer ID"].isin(kept)]
    sample.to_parquet(shop / "online_retail_ii_sample.parquet")
    out = {}
    for name in ("first", "same"):
        result = run_job(home)
        out[name] = (result, _results(result), _snapshot(home))
    (home / "segmart.yaml").write_text("clv:\n  monthly_discount_rate: 0.02\n")
    result = run_job(home)
    out["clv_config"] = (result, _results(result), _snapshot(home))
    out["fresh_after_clv_config"] = _fresh_fits(home)
    # one more line of a purchase invoice: an existing customer, a day already in the data
    line = sample[~sample["Invoice"].astype(str).str.startswith("C")].iloc[[0]].copy()
    line["Invoice"] = "999001"
    line["Quantity"] = 7
    line.to_parquet(shop / "online_retail_ii_one_more_line.parquet")
    result = run_job(home)
    out["one_more_line"] = (result, _results(result), _snapshot(home))
    return home, out


def test_every_run_succeeds(runs):
    _, out = runs
    runs_ = {name: run for name, run in out.items() if not name.startswith("fresh")}
    assert {name: run[0].success for name, run in runs_.items()} == dict.fromkeys(runs_, True)


def test_first_run_fits_every_step(runs):
    _, out = runs
    results = out["first"][1]
    assert {results[asset] for asset in STEP_ASSETS.values()} == {REFITTED}
    assert set(out["first"][2]["signatures"].index) == set(STEP_ASSETS)


def test_unchanged_inputs_keep_every_output_without_rewriting_it(runs):
    home, out = runs
    results = out["same"][1]
    assert {asset: results[asset] for asset in STEP_ASSETS.values()} == dict.fromkeys(
        STEP_ASSETS.values(), KEPT
    )
    # the profile tables' and the holdout's materializations say the same
    assert results["ml/clv_holdout"] == results["ml/customer_cluster_profiles"] == KEPT
    before, after = out["first"][2], out["same"][2]
    # nothing rewritten: a write records a new signature row (time) in its transaction
    pd.testing.assert_frame_equal(before["signatures"], after["signatures"])
    for table in TABLES:
        pd.testing.assert_frame_equal(before["tables"][table], after["tables"][table])


def test_kept_and_refitted_outputs_equal_a_fit_of_the_same_inputs(runs):
    """After the run with only clv: changed, the kept customer clusters equal a k-means fit of
    the mart as it is then, and the refitted CLV a CLV run on the purchases as they are."""
    _, out = runs
    stored = out["clv_config"][2]["tables"]
    fresh = out["fresh_after_clv_config"]
    key = "customer_key"
    assignments = fresh["customer_clusters"].sort_values(key).reset_index(drop=True)
    kept = stored["customer_clusters"].sort_values(key).reset_index(drop=True)
    assert len(kept) > 0
    pd.testing.assert_frame_equal(
        kept[assignments.columns.tolist()], assignments, check_dtype=False
    )
    customers = fresh["customer_clv"].sort_values(key).reset_index(drop=True)
    refitted = stored["customer_clv"].sort_values(key).reset_index(drop=True)
    assert (refitted["clv_status"] == "ok").any()
    pd.testing.assert_frame_equal(
        refitted[customers.columns.tolist()], customers, check_dtype=False, rtol=1e-9
    )


def test_a_changed_config_refits_that_step_only(runs):
    _, out = runs
    results = out["clv_config"][1]
    assert results["ml/customer_clv"] == REFITTED
    for step in ("account_clusters", "customer_clusters", "attribution_channel_credits"):
        assert results[STEP_ASSETS[step]] == KEPT, step
    before, after = out["same"][2]["tables"], out["clv_config"][2]["tables"]
    assert before["clv_fits"]["monthly_discount_rate"].eq(0.01).all()
    assert after["clv_fits"]["monthly_discount_rate"].eq(0.02).all()
    # a higher discount rate lowers every positive 12-month CLV
    merged = before["customer_clv"].merge(after["customer_clv"], on="customer_key")
    positive = merged["predicted_clv_12m_x"] > 0
    assert positive.any()
    assert (
        merged.loc[positive, "predicted_clv_12m_y"] < merged.loc[positive, "predicted_clv_12m_x"]
    ).all()
    pd.testing.assert_frame_equal(before["customer_clusters"], after["customer_clusters"])


def test_one_changed_input_row_refits_the_steps_that_read_it(runs):
    _, out = runs
    results = out["one_more_line"][1]
    for step in ("customer_clv", "customer_clusters", "attribution_channel_credits"):
        assert results[STEP_ASSETS[step]] == REFITTED, step
    assert results[STEP_ASSETS["account_clusters"]] == KEPT
    before, after = out["clv_config"][2], out["one_more_line"][2]
    changed = [
        s
        for s in STEP_ASSETS
        if before["signatures"].loc[s, "signature"] != after["signatures"].loc[s, "signature"]
    ]
    assert sorted(changed) == sorted(["customer_clv", "customer_clusters",
                                      "attribution_channel_credits"])  # fmt: skip
