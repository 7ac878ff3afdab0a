"""Write a small typed raw layer (``{home}/raw/{entity}/*.parquet``) from DataFrames.

Follows ``pipelines/core/entities.yaml`` exactly: canonical columns in contract order with
their declared types, then the lineage columns; every entity gets its zero-row
``_schema.parquet`` so dbt sources resolve even when an entity has no data. Columns missing
from a DataFrame are written as typed nulls; unknown columns raise (the contract is closed).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.core.settings import load_entities

ARROW_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


def entity_schema(entity: str, contract: dict | None = None) -> pa.Schema:
    """The Arrow schema of a raw entity: contract columns, then lineage columns."""
    contract = contract or load_entities()
    columns = dict(contract["entities"][entity]["columns"])
    fields = [pa.field(name, ARROW_TYPES[spec["type"]]) for name, spec in columns.items()]
    fields += [pa.field(n, ARROW_TYPES[t]) for n, t in contract["lineage_columns"].items()]
    return pa.schema(fields)


def _typed_column(values: pd.Series | None, arrow_type: pa.DataType, n_rows: int) -> pa.Array:
    if values is None:
        return pa.nulls(n_rows, type=arrow_type)
    series = values.reset_index(drop=True)
    if pa.types.is_timestamp(arrow_type):
        series = pd.to_datetime(series, utc=True).dt.tz_localize(None).astype("datetime64[us]")
    elif pa.types.is_date32(arrow_type):
        series = pd.to_datetime(series).dt.date
    elif pa.types.is_string(arrow_type):
        series = series.astype("object").where(series.notna(), None)
        series = series.map(lambda v: v if v is None else str(v))
    elif pa.types.is_integer(arrow_type):
        series = series.astype("Int64")
    elif pa.types.is_boolean(arrow_type):
        series = series.astype("boolean")
    elif pa.types.is_floating(arrow_type):
        series = series.astype("Float64")
    return pa.array(series, type=arrow_type, from_pandas=True)


def to_raw_table(
    entity: str,
    frame: pd.DataFrame,
    *,
    source_file: str | None = None,
    source_system: str = "test",
    ingested_at: datetime | None = None,
    contract: dict | None = None,
) -> pa.Table:
    """Type ``frame`` to the entity's raw schema, filling lineage columns not supplied."""
    contract = contract or load_entities()
    schema = entity_schema(entity, contract)
    unknown = set(frame.columns) - set(schema.names)
    if unknown:
        raise ValueError(f"{entity}: columns not in the contract: {sorted(unknown)}")
    n_rows = len(frame)
    frame = frame.reset_index(drop=True).copy()
    defaults = {
        "_source_file": source_file or f"test/{entity}.csv",
        "_source_row": pd.Series(range(1, n_rows + 1)),
        "_source_system": source_system,
        "_mapping": f"{source_system}_{entity}",
        "_ingested_at": ingested_at or datetime(2024, 1, 1, tzinfo=UTC),
    }
    for name, value in defaults.items():
        if name not in frame.columns:
            frame[name] = value
    arrays = [
        _typed_column(frame[f.name] if f.name in frame.columns else None, f.type, n_rows)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_raw(
    home: Path,
    frames: Mapping[str, pd.DataFrame | list[pd.DataFrame]],
    **lineage,
) -> dict[str, list[Path]]:
    """Write ``frames`` (entity -> DataFrame, or a list of them = several landed files).

    Every entity of the contract gets ``_schema.parquet``; each DataFrame becomes one file
    named by the sha256 of its content, with ``_file_hash`` set to that hash.
    """
    contract = load_entities()
    (Path(home) / "warehouse").mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for entity in contract["entities"]:
        folder = Path(home) / "raw" / entity
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(entity_schema(entity, contract).empty_table(), folder / "_schema.parquet")
        parts = frames.get(entity, [])
        for frame in parts if isinstance(parts, list) else [parts]:
            table = to_raw_table(entity, frame, contract=contract, **lineage)
            digest = hashlib.sha256(_parquet_bytes(table)).hexdigest()
            if "_file_hash" not in frame.columns:
                hashes = pa.array([digest] * table.num_rows, type=pa.string())
                table = table.set_column(
                    table.schema.get_field_index("_file_hash"), "_file_hash", hashes
                )
            path = folder / f"{digest}.parquet"
            pq.write_table(table, path)
            written.setdefault(entity, []).append(path)
    return written
