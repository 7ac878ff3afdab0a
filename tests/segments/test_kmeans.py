"""k-means core on real fixture data: determinism, profile, standardisation, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import silhouette_score

from pipelines.core.settings import load_config
from pipelines.segments.config import ClusterConfigError, Feature, cluster_spec
from pipelines.segments.kmeans import (
    TYPICAL,
    ClusterInputError,
    fit_clusters,
    profile_wide,
)
from tests.segments.real_features import (
    account_spec,
    customer_spec,
    maven_accounts,
    uci_customers,
    zscores,
)


@pytest.fixture(scope="module")
def accounts(shared_fixtures) -> pd.DataFrame:
    return maven_accounts(shared_fixtures)


@pytest.fixture(scope="module")
def customers(shared_fixtures) -> pd.DataFrame:
    return uci_customers(shared_fixtures)


@pytest.fixture(scope="module", params=["accounts", "customers"])
def case(request, accounts, customers):
    if request.param == "accounts":
        return accounts, account_spec()
    return customers, customer_spec()


def test_two_fits_are_identical_and_row_order_does_not_matter(case):
    frame, spec = case
    first = fit_clusters(frame, spec)
    second = fit_clusters(frame, spec)
    shuffled = fit_clusters(frame.sample(frac=1.0, random_state=3), spec)
    for other in (second, shuffled):
        pd.testing.assert_frame_equal(first.assignments, other.assignments)
        pd.testing.assert_frame_equal(first.profile, other.profile)
        assert first.silhouette == other.silhouette
    assert first.k >= 2
    assert first.assignments[spec.key].is_monotonic_increasing


def test_one_thread_fits_what_the_default_thread_pools_fit(case, monkeypatch):
    """The fits run on FIT_THREADS (1) OpenMP / BLAS threads; with scikit-learn's default
    pools (one thread per core) they give the same clusters, profile and silhouettes."""
    from threadpoolctl import threadpool_info

    from pipelines.segments import kmeans

    frame, spec = case
    seen: list[int] = []
    fit_once = kmeans._kmeans

    def observed(matrix, k, spec):  # the real fit, noting the OpenMP threads it was given
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp")
        return fit_once(matrix, k, spec)

    monkeypatch.setattr(kmeans, "_kmeans", observed)
    one = fit_clusters(frame, spec)
    assert seen and set(seen) == {1}
    seen.clear()
    monkeypatch.setattr(kmeans, "FIT_THREADS", None)  # threadpoolctl: no limit
    default = fit_clusters(frame, spec)
    assert seen  # the default pools: scikit-learn's choice, one thread per core
    pd.testing.assert_frame_equal(one.assignments, default.assignments)
    pd.testing.assert_frame_equal(one.profile, default.profile)
    assert (one.k, one.silhouette, one.silhouette_by_k) == (
        default.k,
        default.silhouette,
        default.silhouette_by_k,
    )


def test_profile_equals_a_pandas_groupby_of_the_assignments(case):
    frame, spec = case
    fit = fit_clusters(frame, spec)
    joined = fit.assignments.merge(frame, on=spec.key, validate="one_to_one")
    grouped = joined.groupby("cluster_id")
    expected = pd.DataFrame(
        {"cluster_size": grouped.size(), "cluster_share": grouped.size() / len(frame)}
    ).join(grouped[spec.columns].mean().astype("float64"))  # mean skips nulls, as documented
    wide = profile_wide(fit.profile).set_index("cluster_id")
    pd.testing.assert_frame_equal(
        wide[expected.columns], expected, check_dtype=False, check_names=False
    )
    assert (wide["cluster_label"] == grouped["cluster_label"].first()).all()
    # ids 1..k by size, largest first
    assert list(wide.index) == list(range(1, fit.k + 1))
    assert wide["cluster_size"].is_monotonic_decreasing


def test_centroids_and_silhouette_match_an_independent_standardisation(case):
    frame, spec = case
    fit = fit_clusters(frame, spec)
    z = zscores(frame.sort_values(spec.key).reset_index(drop=True), spec)
    assert list(z.columns) == fit.fit_features
    labels = fit.assignments["cluster_id"].to_numpy()
    assert fit.silhouette == pytest.approx(silhouette_score(z.to_numpy(), labels), abs=1e-9)
    centroids = z.groupby(labels).mean()
    profile = fit.profile.pivot(index="cluster_id", columns="feature", values="feature_z")
    pd.testing.assert_frame_equal(
        profile[centroids.columns], centroids, check_names=False, atol=1e-9, rtol=0
    )
    # k is the best silhouette of the range (ties: the smaller k)
    best = max(fit.silhouette_by_k.values())
    assert fit.k == min(k for k, s in fit.silhouette_by_k.items() if s == best)
    assert sorted(fit.silhouette_by_k) == list(range(spec.k_range[0], spec.k_range[1] + 1))


def test_labels_name_the_strongest_features(case):
    frame, spec = case
    fit = fit_clusters(frame, spec)
    words = {f.column: f for f in spec.features}
    for cluster_id, rows in fit.profile.groupby("cluster_id"):
        strong = rows[rows["feature_z"].abs() >= spec.label_threshold]
        strong = strong.assign(order=strong["feature"].map(spec.columns.index))
        strong = strong.assign(size=strong["feature_z"].abs().round(9)).sort_values(
            ["size", "order"], ascending=[False, True]
        )
        terms = [
            words[f].high if z > 0 else words[f].low
            for f, z in zip(strong["feature"], strong["feature_z"], strict=True)
        ][: spec.label_terms]
        label = rows["cluster_label"].iloc[0]
        assert label.split(" #")[0] == (" · ".join(terms) or TYPICAL), cluster_id
    assert fit.assignments["cluster_label"].nunique() == fit.k  # labels are distinct


def test_fixed_k_and_seed_are_used(accounts):
    fit = fit_clusters(accounts, account_spec(k=4))
    assert fit.k == 4 and fit.assignments["cluster_id"].nunique() == 4
    assert fit.silhouette_by_k == {}


def test_fewer_rows_than_k(accounts):
    few = accounts.head(3)
    fixed = fit_clusters(few, account_spec(k=5))
    assert fixed.k == 3 and "capped" in fixed.note
    assert sorted(fixed.assignments["cluster_id"]) == [1, 2, 3]
    assert fixed.silhouette is None  # undefined for k = n
    chosen = fit_clusters(few, account_spec(k_range=(4, 6)))
    assert chosen.k == 3 and "too few rows" in chosen.note
    two = fit_clusters(accounts.head(2), account_spec())
    assert two.k == 2 and two.silhouette is None


def test_constant_and_all_null_features_are_left_out(accounts):
    frame = accounts.assign(region_code=7.0, missing=np.nan)
    spec = account_spec(
        features=(*account_spec().features, Feature("region_code"), Feature("missing"))
    )
    fit = fit_clusters(frame, spec)
    assert fit.dropped_features == {"region_code": "constant", "missing": "all null"}
    baseline = fit_clusters(accounts, account_spec())
    pd.testing.assert_frame_equal(fit.assignments, baseline.assignments)
    dropped = fit.profile[fit.profile["feature"].isin(["region_code", "missing"])]
    assert not dropped["is_fit_feature"].any()
    assert (dropped["feature_z"] == 0).all()
    assert (dropped.loc[dropped["feature"] == "region_code", "feature_mean"] == 7.0).all()
    assert dropped.loc[dropped["feature"] == "missing", "feature_mean"].isna().all()


def test_nulls_are_imputed_with_the_median(accounts):
    holes = accounts.copy()
    holes.loc[holes.index[::7], "year_established"] = np.nan
    fit = fit_clusters(holes, account_spec())
    assert fit.imputed == {"year_established": len(holes.index[::7])}
    filled = holes.assign(
        year_established=holes["year_established"].fillna(holes["year_established"].median())
    )
    pd.testing.assert_frame_equal(fit.assignments, fit_clusters(filled, account_spec()).assignments)
    joined = fit.assignments.merge(holes, on="account_id")
    means = joined.groupby("cluster_id")["year_established"].mean()  # nulls ignored
    profile = fit.profile[fit.profile["feature"] == "year_established"].set_index("cluster_id")
    pd.testing.assert_series_equal(profile["feature_mean"], means, check_names=False)


def test_identical_rows_and_single_row_make_one_cluster(accounts):
    same = pd.concat([accounts.head(1)] * 4, ignore_index=True)
    same["account_id"] = ["a", "b", "c", "d"]
    fit = fit_clusters(same, account_spec())
    assert fit.k == 1 and set(fit.assignments["cluster_id"]) == {1}
    assert set(fit.assignments["cluster_label"]) == {TYPICAL}
    assert fit.silhouette is None and "no varying feature" in fit.note
    # rows identical in the varying features, one other feature constant elsewhere
    twins = same.assign(employees=[1.0, 1.0, 1.0, 1.0], deals=[1.0, 1.0, 2.0, 2.0])
    twins.loc[:, "won_amount"] = [5.0, 5.0, 5.0, 5.0]
    pair = fit_clusters(twins.head(2), account_spec())
    assert pair.k == 1 and "no varying feature" in pair.note
    single = fit_clusters(accounts.head(1), account_spec())
    assert single.k == 1 and single.rows == 1


def test_empty_table_is_skipped_with_typed_empty_outputs(accounts):
    fit = fit_clusters(accounts.head(0), account_spec())
    assert fit.rows == 0 and fit.k == 0 and fit.note == "skipped: no rows"
    assert list(fit.assignments.columns) == ["account_id", "cluster_id", "cluster_label"]
    assert fit.profile.empty and "feature_mean" in fit.profile.columns


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["deals"]), "no column"),
        (lambda f: f.assign(deals="many"), "not numeric"),
        (lambda f: pd.concat([f, f.head(1)]), "not unique"),
        (lambda f: f.assign(account_id=None), "has nulls"),
    ],
)
def test_bad_input_gets_a_clear_error(accounts, change, message):
    with pytest.raises(ClusterInputError, match=message):
        fit_clusters(change(accounts), account_spec())


def test_shipped_config_and_its_validation():
    config = load_config()
    accounts = cluster_spec(config, "accounts")
    customers = cluster_spec(config, "customers")
    assert accounts.key == "account_id" and customers.key == "customer_key"
    assert accounts.relation == "marts.dim_accounts"
    bad = {"clusters": {**config["clusters"], "k_range": [1, 3]}}
    with pytest.raises(ClusterConfigError, match="k_range"):
        cluster_spec(bad, "accounts")
    bad = {
        "clusters": {
            "accounts": {"key": "account_id", "features": [{"column": "x", "transform": "sqrt"}]}
        }
    }
    with pytest.raises(ClusterConfigError, match="transform"):
        cluster_spec(bad, "accounts")
    with pytest.raises(ClusterConfigError, match="missing"):
        cluster_spec({"clusters": {}}, "customers")
