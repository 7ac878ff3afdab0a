"""k-means on standardised features: deterministic for a seed, with a readable profile.

Steps (all documented in config/segmart.yaml ``clusters:``):
1. rows sorted by key; each feature transformed (``log1p``: sign(x)·log(1+|x|));
2. nulls imputed with the feature's median (after the transform); features that are then
   constant (or entirely null) are left out of the fit and reported;
3. z-scores (StandardScaler); k fixed, or the k of ``k_range`` with the best silhouette
   (ties: the smaller k), capped by the number of distinct rows;
4. KMeans(random_state, n_init); cluster ids relabelled 1..k by size (largest first, ties by
   centroid), so ids do not depend on the order k-means found the clusters in;
5. profile per cluster: size, share, mean of each raw feature (nulls ignored), centroid in
   z-scores, and a label from the features furthest from the mean ("large · high revenue").

The k-means fits and silhouettes run on **one thread** (:data:`FIT_THREADS`, set with
threadpoolctl, the way scikit-learn documents limiting its OpenMP and BLAS pools). The matrices
are small (thousands of rows, a handful of features): with scikit-learn's default of one
OpenMP thread per core, the threads spin-wait on each other and on everything else the run
does on the same cores, which made the two cluster steps ~65 s of a scale-1 run on 2 cores
(~10 s on one thread; same labels, k and silhouette: benchmarks/ml_threads_ab.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

from pipelines.segments.config import ClusterSpec

FIT_THREADS = 1  # OpenMP / BLAS threads of the k-means fits and silhouettes (see above)
ASSIGNMENT_COLUMNS = ["cluster_id", "cluster_label"]
PROFILE_COLUMNS = [
    "entity_type",
    "cluster_id",
    "cluster_label",
    "cluster_size",
    "cluster_share",
    "feature",
    "feature_mean",
    "feature_z",
    "is_fit_feature",
]
TYPICAL = "typical"


class ClusterInputError(ValueError):
    """The feature table cannot be clustered as configured (missing or non-numeric column)."""


@dataclass
class ClusterFit:
    """Assignments (key, cluster_id, cluster_label), the long profile and what the fit did."""

    assignments: pd.DataFrame
    profile: pd.DataFrame
    k: int
    silhouette: float | None
    silhouette_by_k: dict[int, float] = field(default_factory=dict)
    fit_features: list[str] = field(default_factory=list)
    dropped_features: dict[str, str] = field(default_factory=dict)
    imputed: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def rows(self) -> int:
        return len(self.assignments)


def signed_log1p(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def prepare(frame: pd.DataFrame, spec: ClusterSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows sorted by key, and their raw numeric features (float, nulls kept)."""
    missing = [c for c in [spec.key, *spec.columns] if c not in frame.columns]
    if missing:
        raise ClusterInputError(
            f"{spec.relation} has no column(s) {missing} (clusters.{spec.entity} in "
            "config/segmart.yaml)"
        )
    if frame[spec.key].isna().any():
        raise ClusterInputError(f"{spec.relation}: {spec.key} has nulls")
    if frame[spec.key].duplicated().any():
        raise ClusterInputError(f"{spec.relation}: {spec.key} is not unique")
    frame = frame.sort_values(spec.key, kind="mergesort").reset_index(drop=True)
    raw = pd.DataFrame(index=frame.index)
    for column in spec.columns:
        series = frame[column]
        if series.dtype == bool or str(series.dtype) == "boolean":
            series = series.astype("Float64")
        try:
            raw[column] = pd.to_numeric(series, errors="raise").astype("float64")
        except (TypeError, ValueError) as error:
            raise ClusterInputError(
                f"{spec.relation}.{column} is not numeric ({series.dtype}): {error}"
            ) from error
    return frame[[spec.key]], raw


def standardise(raw: pd.DataFrame, spec: ClusterSpec):
    """z-scores of the varying features; returns (matrix, fit columns, dropped, imputed)."""
    transformed = raw.copy()
    for feature in spec.features:
        if feature.transform == "log1p":
            transformed[feature.column] = signed_log1p(transformed[feature.column].to_numpy())
    imputed = {c: int(n) for c, n in transformed.isna().sum().items() if n}
    dropped: dict[str, str] = {}
    keep = []
    for column in spec.columns:
        values = transformed[column]
        if values.isna().all():
            dropped[column] = "all null"
            continue
        values = values.fillna(values.median())
        transformed[column] = values
        if values.nunique() <= 1:
            dropped[column] = "constant"
            continue
        keep.append(column)
    if not keep:
        return np.zeros((len(raw), 0)), keep, dropped, imputed
    from sklearn.preprocessing import StandardScaler  # imported here: ~3 s, only when clustering

    matrix = StandardScaler().fit_transform(transformed[keep].to_numpy())
    return matrix, keep, dropped, imputed


def _kmeans(matrix: np.ndarray, k: int, spec: ClusterSpec) -> np.ndarray:
    from sklearn.cluster import KMeans  # sklearn: ~3 s to import, only when clustering

    model = KMeans(n_clusters=k, random_state=spec.random_state, n_init=spec.n_init)
    return model.fit_predict(matrix)


def _silhouette(matrix: np.ndarray, labels: np.ndarray, spec: ClusterSpec) -> float | None:
    distinct = len(np.unique(labels))
    if distinct < 2 or distinct > len(matrix) - 1:
        return None
    from sklearn.metrics import silhouette_score  # sklearn: lazy, as above

    sample = spec.silhouette_sample if len(matrix) > spec.silhouette_sample else None
    return float(
        silhouette_score(matrix, labels, sample_size=sample, random_state=spec.random_state)
    )


def choose_and_fit(matrix: np.ndarray, spec: ClusterSpec):
    """(labels, k, silhouette, silhouette by candidate k, note)."""
    n = len(matrix)
    distinct = len(np.unique(matrix, axis=0)) if matrix.shape[1] else 1
    if distinct < 2:
        why = "no varying feature" if matrix.shape[1] == 0 else "all rows are identical"
        return np.zeros(n, dtype=int), 1, None, {}, f"one cluster: {why}"
    if spec.k is not None:
        k = min(spec.k, distinct)
        note = "" if k == spec.k else f"k capped at {k}: only {distinct} distinct rows"
        labels = _kmeans(matrix, k, spec) if k > 1 else np.zeros(n, dtype=int)
        return labels, k, _silhouette(matrix, labels, spec), {}, note
    low, high = spec.k_range
    upper = min(high, distinct, n - 1)
    if upper < low:
        k = min(low, distinct)
        labels = _kmeans(matrix, k, spec)
        note = f"k={k}: too few rows ({n}, {distinct} distinct) to choose k by silhouette"
        return labels, k, _silhouette(matrix, labels, spec), {}, note
    scores: dict[int, float] = {}
    fits: dict[int, np.ndarray] = {}
    for k in range(low, upper + 1):
        fits[k] = _kmeans(matrix, k, spec)
        score = _silhouette(matrix, fits[k], spec)
        scores[k] = -1.0 if score is None else score
    best = max(scores, key=lambda k: (round(scores[k], 12), -k))
    note = "" if upper == high else f"k range capped at {upper}: {distinct} distinct rows"
    return fits[best], best, scores[best], scores, note


def relabel(labels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Cluster ids 1..k: largest cluster first, ties by the centroid (lexicographic)."""
    order = []
    for label in np.unique(labels):
        members = matrix[labels == label]
        centroid = tuple(np.round(members.mean(axis=0), 9)) if matrix.shape[1] else ()
        order.append((-len(members), centroid, label))
    mapping = {label: rank + 1 for rank, (_, _, label) in enumerate(sorted(order))}
    return np.array([mapping[label] for label in labels], dtype=np.int64)


def cluster_labels(centroids: pd.DataFrame, spec: ClusterSpec) -> dict[int, str]:
    """A label per cluster from its strongest standardised features; duplicates get '#id'."""
    words = {f.column: f for f in spec.features}
    labels = {}
    for cluster_id, row in centroids.iterrows():
        strong = [
            (abs(z), i, column, z)
            for i, (column, z) in enumerate(row.items())
            if abs(z) >= spec.label_threshold and abs(z) > 0
        ]
        strong.sort(key=lambda t: (-round(t[0], 9), t[1]))
        terms = [words[column].word(z) for _, _, column, z in strong[: spec.label_terms]]
        labels[int(cluster_id)] = " · ".join(terms) or TYPICAL
    counts = pd.Series(list(labels.values())).value_counts()
    return {
        cid: (f"{label} #{cid}" if counts[label] > 1 else label) for cid, label in labels.items()
    }


def empty_fit(spec: ClusterSpec) -> ClusterFit:
    assignments = pd.DataFrame(
        {
            spec.key: pd.Series([], dtype="object"),
            "cluster_id": pd.Series([], dtype="int64"),
            "cluster_label": pd.Series([], dtype="object"),
        }
    )
    profile = pd.DataFrame({c: pd.Series([], dtype="object") for c in PROFILE_COLUMNS})
    profile = profile.astype(
        {
            "cluster_id": "int64",
            "cluster_size": "int64",
            "cluster_share": "float64",
            "feature_mean": "float64",
            "feature_z": "float64",
            "is_fit_feature": "bool",
        }
    )
    return ClusterFit(assignments, profile, k=0, silhouette=None, note="skipped: no rows")


def fit_clusters(frame: pd.DataFrame, spec: ClusterSpec) -> ClusterFit:
    """Cluster ``frame`` (one row per ``spec.key``) as configured; see the module docstring."""
    keys, raw = prepare(frame, spec)
    if keys.empty:
        return empty_fit(spec)
    matrix, fit_columns, dropped, imputed = standardise(raw, spec)
    with threadpool_limits(limits=FIT_THREADS):
        labels, k, silhouette, scores, note = choose_and_fit(matrix, spec)
    cluster_ids = relabel(labels, matrix)

    z = pd.DataFrame(0.0, index=raw.index, columns=spec.columns)
    if fit_columns:
        z[fit_columns] = matrix
    centroids = z.groupby(cluster_ids).mean()
    names = cluster_labels(centroids[fit_columns] if fit_columns else centroids.iloc[:, :0], spec)

    assignments = keys.assign(cluster_id=cluster_ids)
    assignments["cluster_label"] = assignments["cluster_id"].map(names)
    profile = _profile(raw, cluster_ids, centroids, names, spec, fit_columns)
    return ClusterFit(
        assignments=assignments,
        profile=profile,
        k=k,
        silhouette=silhouette,
        silhouette_by_k=scores,
        fit_features=fit_columns,
        dropped_features=dropped,
        imputed=imputed,
        note=note,
    )


def _profile(raw, cluster_ids, centroids, names, spec, fit_columns) -> pd.DataFrame:
    sizes = pd.Series(cluster_ids).value_counts().sort_index()
    means = raw.groupby(cluster_ids).mean()
    rows = []
    for cluster_id, size in sizes.items():
        for column in spec.columns:
            mean = means.loc[cluster_id, column]
            rows.append(
                {
                    "entity_type": spec.entity.rstrip("s"),
                    "cluster_id": int(cluster_id),
                    "cluster_label": names[int(cluster_id)],
                    "cluster_size": int(size),
                    "cluster_share": float(size) / len(cluster_ids),
                    "feature": column,
                    "feature_mean": None if pd.isna(mean) else float(mean),
                    "feature_z": float(centroids.loc[cluster_id, column]),
                    "is_fit_feature": column in fit_columns,
                }
            )
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS)


def profile_wide(profile: pd.DataFrame) -> pd.DataFrame:
    """One row per cluster: id, label, size, share and the mean of each feature."""
    if profile.empty:
        return pd.DataFrame(
            columns=["cluster_id", "cluster_label", "cluster_size", "cluster_share"]
        )
    head = profile.drop_duplicates("cluster_id")[
        ["cluster_id", "cluster_label", "cluster_size", "cluster_share"]
    ].set_index("cluster_id")
    means = profile.pivot(index="cluster_id", columns="feature", values="feature_mean")
    means = means[list(dict.fromkeys(profile["feature"]))]
    return head.join(means).reset_index()
