"""The canonical entity contract (entities.yaml) as Python objects and Arrow schemas."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyarrow as pa

from pipelines.core.settings import load_entities

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "double": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}

QUARANTINE_SCHEMA = pa.schema(
    [
        ("_source_file", pa.string()),
        ("_source_row", pa.int64()),
        ("_source_system", pa.string()),
        ("_mapping", pa.string()),
        ("_file_hash", pa.string()),
        ("_ingested_at", pa.timestamp("us")),
        ("reason", pa.string()),
        ("record", pa.string()),
    ]
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False
    pii: bool = False
    hint: str | None = None  # appended to "missing required <column>": what to change


@dataclass(frozen=True)
class Entity:
    name: str
    source: str
    key: tuple[str, ...]
    dated_by: str | None
    drift: str
    columns: tuple[Column, ...]
    dated_until: str | None = None  # a row covers dated_by..dated_until (period rows)
    # a file whose rows all have these null (those its mapping maps) is rejected; default key
    identified_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"entity {self.name} has no column {name!r}")

    @property
    def asset_key(self) -> list[str]:
        return [self.source, self.name]

    def arrow_schema(self) -> pa.Schema:
        """Typed canonical columns followed by the lineage columns."""
        fields = [pa.field(c.name, ARROW_TYPES[c.type]) for c in self.columns]
        fields += [pa.field(n, ARROW_TYPES[t]) for n, t in lineage_columns().items()]
        return pa.schema(fields)


@cache
def lineage_columns() -> dict[str, str]:
    return dict(load_entities()["lineage_columns"])


@cache
def entities() -> dict[str, Entity]:
    """All canonical entities by name, in contract order."""
    out: dict[str, Entity] = {}
    for name, spec in load_entities()["entities"].items():
        cols = tuple(
            Column(
                name=col,
                type=c["type"],
                required=bool(c.get("required", False)),
                pii=bool(c.get("pii", False)),
                hint=c.get("hint"),
            )
            for col, c in spec["columns"].items()
        )
        out[name] = Entity(
            name=name,
            source=spec["source"],
            key=tuple(spec.get("key", [])),
            dated_by=spec.get("dated_by"),
            dated_until=spec.get("dated_until"),
            drift=spec.get("drift", "evolve"),
            columns=cols,
            identified_by=tuple(spec.get("identified_by") or spec.get("key", [])),
        )
    return out


def entity(name: str) -> Entity:
    try:
        return entities()[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(entities())}") from None
