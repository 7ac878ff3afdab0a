"""Forget a person: remove every raw and quarantine row that carries their e-mail.

``forget(home, email)`` normalises the address the way dbt staging does (trim, lower-case),
computes the same keyed hash as the ``pii_hash`` macro (HMAC-SHA-256 with the home's PII key:
env ``SEGMART_PII_KEY``, else ``{home}/state/pii.key``; ``pipelines.core.settings.pii_key``), and
rewrites each Parquet file that holds the person
without those rows (temp file, fsync, rename). A row is the person's when its ``email``
column equals the address, or when the address appears as a whole token in its ``_extra``
(raw) or ``record`` (quarantine) JSON. The erasure is appended to
``{home}/state/erasures.jsonl`` with the hash only — never the address. The next
``segmart run`` rebuilds the marts without the person.

The landing files themselves are never modified by segmart: the report lists those that
still hold the person so the operator can delete or redact them at the source.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.core.files import atomic_write_text, fsync_path
from pipelines.core.manifest import Manifest
from pipelines.core.settings import home_paths, pii_key
from pipelines.quality.runner import QualityState

TEXT_COLUMNS = {"raw": "_extra", "quarantine": "record"}


@dataclass
class ForgetReport:
    email_hash: str
    files_changed: list[str] = field(default_factory=list)  # relative to the home
    rows_removed: dict[str, int] = field(default_factory=dict)  # file → rows
    landing_files: list[str] = field(default_factory=list)  # sources that still hold them
    erased_at: str = ""

    @property
    def total_rows(self) -> int:
        return sum(self.rows_removed.values())

    def __str__(self) -> str:
        lines = [
            f"forgot {self.email_hash[:12]}…: {self.total_rows} row(s) removed "
            f"from {len(self.files_changed)} file(s)"
        ]
        lines += [f"  {f}: {self.rows_removed[f]} row(s)" for f in self.files_changed]
        if self.landing_files:
            lines.append("landing files still holding this person (delete or redact them):")
            lines += [f"  {f}" for f in self.landing_files]
        return "\n".join(lines)


def normalize_email(email: str) -> str:
    """``normalize_email`` of the dbt macros: trimmed, lower-cased; must contain ``@``."""
    value = str(email).strip().lower()
    if not re.fullmatch(r".+@.+", value):
        raise ValueError("not an e-mail address (no '@')")
    return value


def pii_hash(value: str, home: Path | str | None = None) -> str:
    """The keyed hash dbt staging computes (``pii_hash`` macro): HMAC-SHA-256, hex, with the
    PII key of ``home``."""
    return pii_key(home).hash(value)


def forget(home: Path | str, email: str) -> ForgetReport:
    """Remove every raw and quarantine row of the person with ``email``; log the erasure."""
    paths = home_paths(home)
    address = normalize_email(email)
    report = ForgetReport(email_hash=pii_hash(address, paths.root))
    token = re.compile(
        r"(?<![A-Za-z0-9._%+-])" + re.escape(address) + r"(?![A-Za-z0-9_-]|\.[A-Za-z0-9])",
        re.IGNORECASE,
    )
    hashes: set[str] = set()
    for layer, folder in (("raw", paths.raw), ("quarantine", paths.quarantine)):
        for path in sorted(folder.glob("*/[0-9a-f]*.parquet")):
            removed = _rewrite_without(path, address, token, TEXT_COLUMNS[layer])
            if removed:
                rel = path.relative_to(paths.root).as_posix()
                report.files_changed.append(rel)
                report.rows_removed[rel] = removed
                hashes.add(path.stem)
    manifest = Manifest(paths.manifest)
    for h in sorted(hashes):
        record = manifest.get(h)
        if record and (paths.landing / record["file"]).exists():
            report.landing_files.append(record["file"])
    report.erased_at = datetime.now(UTC).isoformat()
    _lower_row_count_baselines(paths.state / "quality", report)
    _log_erasure(paths.state / "erasures.jsonl", report)
    return report


def _lower_row_count_baselines(state_dir: Path, report: ForgetReport) -> None:
    """An erasure shrinks the append-only raw layer on purpose: lower the accepted row counts
    of the raw suites by the rows removed, so the "raw layer must not shrink" gate still
    catches lost files but not this deliberate deletion."""
    state = QualityState(state_dir)
    removed: dict[str, int] = {}
    for rel, rows in report.rows_removed.items():
        layer, entity, _ = rel.split("/", 2)
        if layer == "raw":
            removed[entity] = removed.get(entity, 0) + rows
    for entity, rows in removed.items():
        suite = f"raw__{entity}"
        previous = state.previous(suite)
        if "row_count" in previous:
            state.record(
                suite,
                max(int(previous["row_count"]) - rows, 0),
                f"erasure {report.email_hash[:12]}",
                datetime.now(UTC),
            )


def _rewrite_without(path: Path, address: str, token: re.Pattern, text_column: str) -> int:
    """Rewrite ``path`` without the person's rows (atomic); returns the rows removed."""
    table = pq.read_table(path)
    mask = pa.array([False] * table.num_rows, pa.bool_())
    if "email" in table.column_names:
        emails = pc.utf8_lower(pc.utf8_trim_whitespace(table["email"]))
        mask = pc.or_(mask, pc.fill_null(pc.equal(emails, address), False))
    if text_column in table.column_names:
        texts = table[text_column]
        hit = pc.fill_null(pc.match_substring(texts, address, ignore_case=True), False)
        if pc.any(hit).as_py():  # prefilter, then whole-token check on the candidates
            exact = [bool(t and token.search(t)) for t in texts.to_pylist()]
            mask = pc.or_(mask, pa.array(exact, pa.bool_()))
    removed = pc.sum(mask.cast(pa.int64())).as_py() or 0
    if removed:
        kept = table.filter(pc.invert(mask))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            pq.write_table(kept, tmp, compression="zstd")
            fsync_path(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_path(path.parent)
    return removed


def _log_erasure(log_path: Path, report: ForgetReport) -> None:
    """Append the erasure (hash, time, files, counts — never the address) atomically."""
    entry = {k: v for k, v in asdict(report).items() if k != "landing_files"}
    entry["landing_files_remaining"] = len(report.landing_files)
    old = log_path.read_text() if log_path.exists() else ""
    atomic_write_text(log_path, old + json.dumps(entry, sort_keys=True) + "\n")
