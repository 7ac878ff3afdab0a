"""Helpers for the ingestion tests: a temporary home with a small user mapping."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

ORDERS_MAPPING = """
name: test_orders
entity: orders
source_system: test_shop
match:
  columns: [order_ref, ordered_on, amount]
columns:
  order_id: order_ref
  order_line_id: {const: "1"}
  ordered_at: {from: ordered_on, format: ["%d/%m/%Y", "%d/%m/%Y %H:%M"]}
  net_amount: amount
  email: email
  currency: {default: EUR}
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose landing is empty and with the ``test_orders`` user mapping."""
    (tmp_path / "landing").mkdir()
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "test_orders.yaml").write_text(ORDERS_MAPPING)
    return tmp_path


def land(home: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = home / "landing" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def raw(home: Path, entity: str) -> pd.DataFrame:
    """All raw rows of an entity (data files only, not _schema.parquet)."""
    files = sorted((home / "raw" / entity).glob("[0-9a-f]*.parquet"))
    if not files:
        return pd.DataFrame()
    return duckdb.sql(f"select * from read_parquet({[str(f) for f in files]})").df()


def quarantine(home: Path, entity: str) -> pd.DataFrame:
    files = sorted((home / "quarantine" / entity).glob("*.parquet"))
    if not files:
        return pd.DataFrame()
    return duckdb.sql(f"select * from read_parquet({[str(f) for f in files]})").df()


def manifests(home: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((home / "manifest").glob("*.json"))]
