"""Expectation suites as versioned JSON files under ``expectations/``.

A suite file is GX 1.x ``ExpectationSuite`` JSON (``name``, ``expectations`` with ``type``,
``kwargs``, ``meta``) named ``<layer>__<entity>.json``. segmart reads a few extra keys:

* suite ``meta.layer`` / ``meta.entity`` (taken from the file name when absent) and
  ``meta.key``: the columns that identify a failing row in the check metadata (raw suites add
  the lineage columns ``_source_file`` and ``_source_row``);
* expectation ``meta.severity``: ``error`` (blocks downstream) or ``warn`` (reports only);
* expectation ``meta.aggregate``: validate the expectation on a DuckDB SQL pre-aggregate of the
  whole data instead of on the rows (see :mod:`pipelines.quality.engine`);
* expectation ``meta.relative_to_previous``: row-count bounds as ratios of the previous run's
  count (``min_ratio``, ``max_ratio``).

``expectations/_parameters.json`` holds suite parameters shared by every suite (e.g. the ISO
4217 currency list), referenced in kwargs as ``{"$PARAMETER": "name"}``.

Nothing here imports Great Expectations; suites are plain dicts until validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipelines.core.settings import EXPECTATIONS_DIR

SEVERITIES = ("error", "warn")
PARAMETERS_FILE = "_parameters.json"

# Expectations about the table's shape: validated once on a zero-row frame with the real columns.
SCHEMA_TYPES = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_column_to_exist",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
    }
)
# Row counts: validated on the count of the whole data (computed in DuckDB).
ROW_COUNT_TYPES = frozenset(
    {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
)
# Uniqueness spans chunks: computed in DuckDB SQL over the whole data.
UNIQUE_TYPES = frozenset(
    {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
)


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite, as written in the JSON file."""

    type: str
    kwargs: dict
    meta: dict = field(default_factory=dict)

    @property
    def severity(self) -> str:
        return self.meta.get("severity", "error")

    @property
    def route(self) -> str:
        """How the expectation is evaluated: schema, row_count, unique, aggregate or rows."""
        if self.meta.get("aggregate"):
            return "aggregate"
        if self.type in SCHEMA_TYPES:
            return "schema"
        if self.type in ROW_COUNT_TYPES:
            return "row_count"
        if self.type in UNIQUE_TYPES:
            return "unique"
        return "rows"

    @property
    def columns(self) -> list[str]:
        """Columns of the checked data the expectation reads (for row-level column pruning)."""
        kw = self.kwargs
        cols = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
        cols += list(kw.get("column_list") or [])
        return cols

    @property
    def label(self) -> str:
        """A short readable id: type plus the columns it reads (unique within a suite)."""
        cols = ",".join(self.columns)
        suffix = self.meta.get("id") or cols
        return f"{self.type}({suffix})" if suffix else self.type

    def to_json(self) -> dict:
        return {"type": self.type, "kwargs": self.kwargs, "meta": self.meta}


@dataclass(frozen=True)
class Suite:
    """A suite file: name, layer, entity, key columns and expectations."""

    name: str
    layer: str
    entity: str
    key: tuple[str, ...]
    expectations: tuple[Expectation, ...]
    meta: dict
    path: Path | None = None

    def by_route(self, route: str) -> list[Expectation]:
        return [e for e in self.expectations if e.route == route]


def suite_path(layer: str, entity: str, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{layer}__{entity}.json"


def parse_suite(data: dict, path: Path | None = None) -> Suite:
    """Validate the segmart-specific parts of a suite dict and return a :class:`Suite`."""
    stem_layer, _, stem_entity = (path.stem if path else "").partition("__")
    meta = dict(data.get("meta") or {})
    layer = meta.get("layer") or stem_layer
    entity = meta.get("entity") or stem_entity
    if not layer or not entity:
        raise ValueError(f"suite {data.get('name')!r}: meta.layer and meta.entity are required")
    expectations = []
    labels = set()
    for raw in data.get("expectations") or []:
        exp = Expectation(
            type=raw["type"], kwargs=dict(raw.get("kwargs") or {}), meta=dict(raw.get("meta") or {})
        )
        if exp.severity not in SEVERITIES:
            raise ValueError(f"{path}: {exp.label}: severity must be one of {SEVERITIES}")
        if exp.label in labels:
            raise ValueError(f"{path}: duplicate expectation {exp.label}; give one a meta.id")
        labels.add(exp.label)
        expectations.append(exp)
    return Suite(
        name=data.get("name") or f"{layer}__{entity}",
        layer=layer,
        entity=entity,
        key=tuple(meta.get("key") or ()),
        expectations=tuple(expectations),
        meta=meta,
        path=path,
    )


def load_suite(layer: str, entity: str, directory: Path = EXPECTATIONS_DIR) -> Suite:
    path = suite_path(layer, entity, directory)
    return parse_suite(json.loads(path.read_text()), path)


def available_suites(layer: str, directory: Path = EXPECTATIONS_DIR) -> list[str]:
    """Entities of ``layer`` that have a suite file."""
    return sorted(p.stem.split("__", 1)[1] for p in directory.glob(f"{layer}__*.json"))


@cache
def _shared_parameters(directory: Path) -> dict:
    path = directory / PARAMETERS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {k: v for k, v in data.items() if not k.startswith("_")}


def shared_parameters(directory: Path = EXPECTATIONS_DIR) -> dict:
    """Suite parameters from ``expectations/_parameters.json`` (keys starting ``_`` are notes)."""
    return dict(_shared_parameters(directory))
