"""Which landed entities feed the rows of which mart, and which of them a home has.

The map is the dbt seed ``mart_inputs`` (``dbt_project/seeds/kpi/mart_inputs.csv``: one row
per mart and raw entity whose rows make rows of that mart) with the words for each entity in
seed ``landing_entities`` (``account export``, ``ad spend report``, ...). The dbt lineage of
a mart reaches almost every source (identity resolution reads them all), so it cannot say
which exports a mart *needs*; the seed says it and ``tests/quality/test_mart_inputs.py``
checks it against the dbt graph (every entity named is in the mart's lineage, every mart of
the project is listed). The same seeds feed the ``kpi_definitions`` mart (``has_data``,
``data_note``), the mart gates (a "not empty / not collapsing" check applies only when the
mart's inputs had rows), the run summary, the HTML report and the table in docs/guide.md.

Rows of an entity are counted from the Parquet footers of ``{home}/raw/<entity>/`` (the
zero-row ``_schema.parquet`` aside): no data is read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.core.settings import DBT_PROJECT_DIR

SEEDS_DIR = DBT_PROJECT_DIR / "seeds" / "kpi"
MART_INPUTS_SEED = SEEDS_DIR / "mart_inputs.csv"
LANDING_ENTITIES_SEED = SEEDS_DIR / "landing_entities.csv"


@cache
def _read(path: Path) -> tuple[dict, ...]:
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple(dict(row) for row in csv.DictReader(handle))


def mart_inputs() -> dict[str, tuple[str, ...]]:
    """``{mart: (entity, ...)}``: the raw entities whose rows make rows of the mart."""
    out: dict[str, list[str]] = {}
    for row in _read(MART_INPUTS_SEED):
        out.setdefault(row["mart"], []).append(row["entity"])
    return {mart: tuple(sorted(entities)) for mart, entities in out.items()}


def export_labels() -> dict[str, str]:
    """``{entity: 'account export', ...}`` in the seed's order."""
    return {row["entity"]: row["export_label"] for row in _read(LANDING_ENTITIES_SEED)}


def entity_rows(raw_dir: Path, entities: Iterable[str] | None = None) -> dict[str, int]:
    """Raw rows per entity (every landed file's rows; 0 when nothing landed)."""
    names = list(entities) if entities is not None else list(export_labels())
    counts = {}
    for entity in names:
        folder = raw_dir / entity
        files = [p for p in folder.glob("*.parquet") if not p.name.startswith("_")]
        counts[entity] = sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    return counts


def absent_phrase(entities: Iterable[str]) -> str:
    """``no deal export or lead export landed`` for the given entities (labels sorted, as the
    ``data_note`` of the kpi_definitions mart words it)."""
    labels = export_labels()
    return f"no {' or '.join(sorted({labels.get(e, e) for e in entities}))} landed"


def empty_marts(rows: Mapping[str, int]) -> dict[str, str]:
    """``{mart: reason}`` for the marts none of whose inputs has rows, e.g.
    ``{'dim_accounts': 'no account export landed'}``."""
    out = {}
    for mart, entities in sorted(mart_inputs().items()):
        if entities and not any(rows.get(e, 0) > 0 for e in entities):
            out[mart] = absent_phrase(entities)
    return out


def sides_without_data(rows: Mapping[str, int]) -> list[str]:
    """One sentence per entity without rows, naming the marts left empty by it, e.g.
    ``no account export landed: dim_accounts, kpi_account_profitability are empty``."""
    empty = empty_marts(rows)
    sentences = []
    for entity, label in export_labels().items():
        if rows.get(entity, 0) > 0:
            continue
        marts = [m for m, ents in sorted(mart_inputs().items()) if entity in ents and m in empty]
        tail = f": {', '.join(marts)} {'is' if len(marts) == 1 else 'are'} empty" if marts else ""
        sentences.append(f"no {label} landed{tail}")
    return sentences


def landing_table() -> str:
    """The table "what you need to land" (docs/guide.md): each export and the marts it feeds."""
    feeds: dict[str, list[str]] = {}
    for mart, entities in sorted(mart_inputs().items()):
        for entity in entities:
            feeds.setdefault(entity, []).append(mart)
    lines = ["| export (entity) | marts it feeds |", "|---|---|"]
    for entity, label in export_labels().items():
        marts = ", ".join(f"`{m}`" for m in feeds.get(entity, [])) or "(none yet)"
        lines.append(f"| {label} (`{entity}`) | {marts} |")
    return "\n".join(lines)
