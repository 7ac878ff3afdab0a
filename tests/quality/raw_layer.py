"""Build a tiny raw layer ({home}/raw/{entity}/*.parquet) the way ingest writes it."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.core.contract import entities

INGESTED_AT = datetime(2025, 1, 2, 3, 4, 5)


def write_raw(home: Path, entity: str, frame: pd.DataFrame, name: str = "export.csv") -> Path:
    """Write ``frame`` (canonical columns; lineage filled in) as one raw file of ``entity``."""
    schema = entities()[entity].arrow_schema()
    folder = home / "raw" / entity
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(schema.empty_table(), folder / "_schema.parquet")
    n = len(frame)
    file_hash = hashlib.sha256(name.encode()).hexdigest()
    lineage = {
        "_source_file": [name] * n,
        "_source_row": list(range(1, n + 1)),
        "_source_system": ["test"] * n,
        "_mapping": ["test"] * n,
        "_file_hash": [file_hash] * n,
        "_ingested_at": [INGESTED_AT] * n,
        "_extra": [None] * n,
    }
    arrays = []
    for f in schema:
        if f.name in frame.columns:
            values = frame[f.name]
            arrays.append(pa.array(values.tolist(), type=f.type, from_pandas=True))
        elif f.name in lineage:
            arrays.append(pa.array(lineage[f.name], type=f.type))
        else:
            arrays.append(pa.nulls(n, type=f.type))
    path = folder / f"{file_hash}.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)
    return path


def ad_spend(days: int = 40, platforms=("google_ads", "meta_ads"), spend: float = 100.0):
    """Daily spend rows: one campaign per platform per day, constant spend."""
    rows = []
    start = pd.Timestamp("2025-01-01")
    for d in range(days):
        for p in platforms:
            rows.append(
                {
                    "spend_date": (start + pd.Timedelta(days=d)).date(),
                    "platform": p,
                    "ad_account_id": f"{p}-acc",
                    "campaign_id": f"{p}-c1",
                    "campaign_name": "brand",
                    "impressions": 1000,
                    "clicks": 50,
                    "spend": spend,
                    "currency": "USD",
                }
            )
    return pd.DataFrame(rows)
