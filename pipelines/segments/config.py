"""The ``clusters:`` block of config/segmart.yaml as typed settings, validated on load."""

from __future__ import annotations

from dataclasses import dataclass

TRANSFORMS = (None, "log1p")


class ClusterConfigError(ValueError):
    """The ``clusters:`` configuration is missing something or has a wrong value."""


@dataclass(frozen=True)
class Feature:
    """One input column: its transform and the words labels use for a high / low centroid."""

    column: str
    transform: str | None = None
    high: str = ""
    low: str = ""

    def word(self, z: float) -> str:
        return (self.high or f"high {self.column}") if z > 0 else (self.low or f"low {self.column}")


@dataclass(frozen=True)
class ClusterSpec:
    """How to cluster one entity: where its rows are, its key, features and the k-means knobs."""

    entity: str
    relation: str
    key: str
    features: tuple[Feature, ...]
    k: int | None = None
    k_range: tuple[int, int] = (2, 6)
    random_state: int = 42
    n_init: int = 10
    silhouette_sample: int = 5000
    label_threshold: float = 0.5
    label_terms: int = 3

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.features]


def _int(block: dict, name: str, default: int, minimum: int) -> int:
    value = block.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ClusterConfigError(f"clusters.{name} must be an integer >= {minimum}, got {value!r}")
    return value


def cluster_spec(config: dict, entity: str) -> ClusterSpec:
    """The spec of ``entity`` (``accounts`` / ``customers``) from the loaded configuration."""
    block = config.get("clusters") or {}
    section = block.get(entity)
    if not isinstance(section, dict):
        raise ClusterConfigError(f"clusters.{entity} is missing from config/segmart.yaml")
    raw_features = section.get("features") or []
    if not raw_features:
        raise ClusterConfigError(f"clusters.{entity}.features lists no feature")
    features = []
    for item in raw_features:
        item = {"column": item} if isinstance(item, str) else dict(item)
        if item.get("transform") not in TRANSFORMS:
            raise ClusterConfigError(
                f"clusters.{entity}: transform of {item.get('column')!r} must be one of "
                f"{[t for t in TRANSFORMS if t]} or empty, got {item.get('transform')!r}"
            )
        unknown = set(item) - {"column", "transform", "high", "low"}
        if unknown or not item.get("column"):
            raise ClusterConfigError(f"clusters.{entity}: bad feature entry {item!r}")
        features.append(Feature(**item))
    if not section.get("key"):
        raise ClusterConfigError(f"clusters.{entity}.key (the mart's key column) is missing")
    columns = [f.column for f in features]
    if len(set(columns)) != len(columns):
        raise ClusterConfigError(f"clusters.{entity}: a feature is listed twice: {columns}")
    k = block.get("k")
    if k is not None:
        k = _int(block, "k", 2, 1)
    k_range = tuple(block.get("k_range") or (2, 6))
    if (
        len(k_range) != 2
        or not all(isinstance(v, int) for v in k_range)
        or not (2 <= k_range[0] <= k_range[1])
    ):
        raise ClusterConfigError(
            f"clusters.k_range must be [min, max] with 2 <= min <= max, got {k_range}"
        )
    threshold = block.get("label_threshold", 0.5)
    if not isinstance(threshold, int | float) or threshold < 0:
        raise ClusterConfigError(f"clusters.label_threshold must be >= 0, got {threshold!r}")
    return ClusterSpec(
        entity=entity,
        relation=str(section.get("relation") or f"marts.dim_{entity}"),
        key=str(section["key"]),
        features=tuple(features),
        k=k,
        k_range=(int(k_range[0]), int(k_range[1])),
        random_state=_int(block, "random_state", 42, 0),
        n_init=_int(block, "n_init", 10, 1),
        silhouette_sample=_int(block, "silhouette_sample", 5000, 10),
        label_threshold=float(threshold),
        label_terms=_int(block, "label_terms", 3, 1),
    )
