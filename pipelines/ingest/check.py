"""``segmart mappings check FILE``: which mapping matches and what would be quarantined."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.ingest.loader import FileRejected, _reason_kinds, open_mapped, typed_chunks
from pipelines.ingest.mapping import MappingError, choose_mapping, load_mappings
from pipelines.ingest.readers import GzipLimits, ReaderOptions, ReadError, SourceFile
from pipelines.ingest.transform import configured_dates
from pipelines.settings import home_dir, load_config


@dataclass
class MappingCheck:
    """The outcome of checking one file against the mappings, without writing anything."""

    file: str
    ok: bool
    mapping: str | None = None
    entity: str | None = None
    reader: str = ""
    candidates: list[tuple[str, float]] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)  # canonical → source columns
    unmapped: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[int, str]] = field(default_factory=list)  # (source row, reason)
    error: str = ""
    date_order: list[str] = field(default_factory=list)  # day/month order evidence

    def __str__(self) -> str:
        lines = [f"file:     {self.file}"]
        if self.reader:
            lines.append(f"read as:  {self.reader}")
        if self.candidates:
            cands = ", ".join(f"{n} ({s:g})" for n, s in self.candidates)
            lines.append(f"matches:  {cands}")
        if self.mapping:
            lines.append(f"mapping:  {self.mapping} → {self.entity}")
            for col, srcs in self.columns.items():
                lines.append(f"  {col:<26} ← {', '.join(srcs) if srcs else '(const/expr/none)'}")
        lines += [f"drift:    {d}" for d in self.drift]
        if self.error:
            lines.append(f"REJECTED: {self.error}")
            return "\n".join(lines)
        lines.append(
            f"rows:     read {self.rows_read}, would load {self.rows_loaded}, "
            f"would quarantine {self.rows_quarantined}"
        )
        for why, n in self.rows_skipped.items():
            lines.append(f"skipped:  {n} {why}")
        for why, n in self.reasons.items():
            lines.append(f"  {n:>8} × {why}")
        for row, why in self.samples:
            lines.append(f"  e.g. row {row}: {why}")
        lines += [f"dates:    {d}" for d in self.date_order]
        return "\n".join(lines)


def check_file(path: Path | str, home: Path | str | None = None) -> MappingCheck:
    """Dry run of one file: mapping, column mapping, rows that would be quarantined and why."""
    path = Path(path)
    mappings = load_mappings(home_dir(home))
    result = MappingCheck(file=str(path), ok=False)
    try:
        limits = GzipLimits.from_config(load_config(home_dir(home)).get("ingest"))
        probe = SourceFile(path, ReaderOptions(gzip=limits))
        result.reader = probe.info.describe()
        result.candidates = choose_mapping(mappings, path.name, probe.header).candidates
        with configured_dates(load_config(home_dir(home)).get("ingest")):
            source, mapping, plan = open_mapped(path, path.name, mappings, limits)
    except (FileRejected, ReadError, MappingError, UnicodeError) as exc:
        result.error = str(exc)
        return result
    result.mapping, result.entity = mapping.name, mapping.entity_name
    result.reader = source.info.describe()
    result.columns = {c: plan.sources.get(c, []) for c in mapping.columns}
    result.unmapped, result.drift = plan.unmapped, plan.drift_notes
    reasons: Counter = Counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    digest = hashlib.sha256(str(path).encode()).hexdigest()
    try:
        for good, bad, _ in typed_chunks(source, plan, path.name, digest, now):
            result.rows_loaded += good.num_rows
            result.rows_quarantined += bad.num_rows
            rs = bad["reason"].to_pylist()
            reasons.update(_reason_kinds(rs))
            rows = bad["_source_row"].to_pylist()
            result.samples += list(zip(rows, rs, strict=True))[: 5 - len(result.samples)]
    except (ReadError, MappingError, duckdb.Error, UnicodeError) as exc:
        result.error = str(exc)
        return result
    result.rows_read = result.rows_loaded + result.rows_quarantined
    result.date_order = plan.date_order.notes()
    result.rows_skipped = dict(source.info.skipped)
    result.reasons = dict(reasons.most_common(20))
    result.ok = True
    return result
