"""``segmart mappings check FILE``: which mappings read a file and what would be quarantined.

A dry run that writes nothing. Every reading of the file is checked (the primary mapping
and any ``reading: additional`` ones); when no mapping matches, the closest mappings are
shown with the header columns each one misses. Exit status (``MappingCheck.exit_code``):
0 the file would load, 1 every row of a reading would be quarantined, 2 the file would be
rejected (no mapping, an invalid or ambiguous mapping, unreadable).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.core.settings import home_dir, load_config
from pipelines.ingest.loader import (
    FileRejected,
    _reason_kinds,
    identifying_columns,
    open_reading,
    typed_chunks,
    unidentified_reason,
)
from pipelines.ingest.mapping import (
    BrokenMapping,
    MappingError,
    MatchResult,
    choose_readings,
    closest_mappings,
    load_mapping_set,
    read_mapping_file,
)
from pipelines.ingest.readers import EmptyFile, GzipLimits, ReaderOptions, ReadError, SourceFile
from pipelines.ingest.transform import configured_dates, make_plan
from pipelines.ingest.validate import deep_check


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
    additional: bool = False  # a ``reading: additional`` reading
    readings: list[MappingCheck] = field(default_factory=list)  # the file's further readings
    # no mapping matched: (mapping, entity, match columns the header lacks, file name fits)
    closest: list[tuple[str, str, list[str], bool]] = field(default_factory=list)
    invalid_mappings: list[str] = field(default_factory=list)  # one line each

    @property
    def all_quarantined(self) -> bool:
        """Rows were read and not one would load."""
        return self.ok and self.rows_read > 0 and self.rows_loaded == 0

    @property
    def exit_code(self) -> int:
        checks = [self, *self.readings]
        if any(not c.ok for c in checks):
            return 2
        return 1 if any(c.all_quarantined for c in checks) else 0

    def __str__(self) -> str:
        lines = [f"file:     {self.file}"]
        lines += [f"invalid mapping: {e}" for e in self.invalid_mappings]
        lines += self._reading_lines()
        for extra in self.readings:
            lines.append("also read by a `reading: additional` mapping:")
            lines += ["  " + line for line in extra._reading_lines()]
        if self.closest:
            lines.append("closest mappings (header columns each one misses):")
            for name, ent, missing, name_fits in self.closest:
                lacks = ", ".join(missing) if missing else "none"
                fits = "" if name_fits else "; the file name does not fit its `match.filename`"
                lines.append(f"  {name} → {ent}: misses {lacks}{fits}")
            lines.append("  write a mapping for this file: `segmart mappings new FILE` drafts one")
        return "\n".join(lines)

    def _reading_lines(self) -> list[str]:
        lines = []
        if self.reader:
            lines.append(f"read as:  {self.reader}")
        if self.candidates:
            cands = ", ".join(f"{n} ({s:g})" for n, s in self.candidates)
            lines.append(f"matches:  {cands}")
        if self.mapping:
            lines.append(f"mapping:  {self.mapping} → {self.entity}")
            for col, srcs in self.columns.items():
                lines.append(f"  {col:<26} ← {', '.join(srcs) if srcs else '(const/expr/none)'}")
        if self.unmapped:
            lines.append(f"unmapped: {', '.join(self.unmapped)}")
        lines += [f"drift:    {d}" for d in self.drift]
        if self.error:
            lines.append(f"REJECTED: {self.error}")
            return lines
        lines.append(
            f"rows:     read {self.rows_read}, would load {self.rows_loaded}, "
            f"would quarantine {self.rows_quarantined}"
        )
        if self.all_quarantined:
            lines.append("WARNING:  every row would be quarantined: check the mapping")
        for why, n in self.rows_skipped.items():
            lines.append(f"skipped:  {n} {why}")
        for why, n in self.reasons.items():
            lines.append(f"  {n:>8} × {why}")
        for row, why in self.samples:
            lines.append(f"  e.g. row {row}: {why}")
        lines += [f"dates:    {d}" for d in self.date_order]
        return lines


def check_file(
    path: Path | str, home: Path | str | None = None, extra: list[Path] | None = None
) -> MappingCheck:
    """Dry run of one file: its readings, their column mapping, the rows that would be
    quarantined and why; the closest mappings when none matches. ``extra`` mapping files
    (e.g. a draft not yet moved into ``{home}/mappings``) join the home's, replacing a
    mapping of the same name."""
    path = Path(path)
    root = home_dir(home)
    mset = load_mapping_set(root)
    for found in (m for f in extra or [] for m in read_mapping_file(Path(f))):
        mset.mappings.pop(str(found.name), None)
        mset.broken = [b for b in mset.broken if b.name is None or b.name != found.name]
        if isinstance(found, BrokenMapping):
            mset.broken.append(found)
        else:
            mset.mappings[found.name] = found
    mset = deep_check(mset, only_user=True)
    config = load_config(root).get("ingest")
    invalid = [b.error for b in mset.broken]
    result = MappingCheck(file=str(path), ok=False, invalid_mappings=invalid)
    try:
        limits = GzipLimits.from_config(config)
        probe = SourceFile(path, ReaderOptions(gzip=limits))
    except EmptyFile:
        result.ok, result.error = True, ""
        result.reader = "empty file: nothing to load"
        return result
    except (ReadError, UnicodeError) as exc:
        result.error = str(exc)
        return result
    readings = choose_readings(mset, path.name, probe.header)
    checks = []
    for reading in readings:
        check = _check_reading(path, probe, reading, limits, config)
        check.reader = check.reader or probe.info.describe()
        checks.append(check)
    first = checks[0]
    first.invalid_mappings, first.readings = invalid, checks[1:]
    if all(r.mapping is None and not r.candidates for r in readings):
        first.closest = closest_mappings(mset, path.name, probe.header)
    return first


def _check_reading(
    path: Path, probe: SourceFile, reading: MatchResult, limits: GzipLimits, config
) -> MappingCheck:
    result = MappingCheck(
        file=str(path), ok=False, candidates=reading.candidates, additional=reading.additional
    )
    result.entity = reading.entity_name
    if reading.mapping is None:
        result.error = reading.reason
        return result
    mapping = reading.mapping
    result.mapping = mapping.name
    try:
        if reading.additional:  # its own pass over the file, as the ingest reads it
            probe = SourceFile(path, ReaderOptions(gzip=limits))
        with configured_dates(config):
            source, plan = open_reading(path, mapping, probe, limits)
    except (FileRejected, ReadError, MappingError, UnicodeError) as exc:
        result.error = str(exc)
        return result
    result.reader = source.info.describe()
    result.columns = {c: plan.sources.get(c, []) for c in mapping.columns}
    result.unmapped, result.drift = plan.unmapped, plan.drift_notes
    reasons: Counter = Counter()
    now = datetime.now(UTC).replace(tzinfo=None)
    digest = hashlib.sha256(str(path).encode()).hexdigest()
    identifying = identifying_columns(mapping)
    identified = not identifying
    try:
        for good, bad, _ in typed_chunks(source, plan, path.name, digest, now):
            identified = identified or any(good[c].null_count < good.num_rows for c in identifying)
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
    if result.rows_loaded and not identified:  # the ingest rejects such a file
        result.error = unidentified_reason(mapping, identifying)
        return result
    result.date_order = plan.date_order.notes()
    if source.info.header != plan.header:  # JSON keys / nested fields first seen further down
        full = make_plan(mapping, source.info.header, source.info.delimiter, source.info.preamble)
        result.unmapped = full.unmapped
    result.rows_skipped = dict(source.info.skipped)
    result.reasons = dict(reasons.most_common(20))
    result.ok = True
    return result
