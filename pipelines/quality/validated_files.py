"""Which raw files a suite has already passed, so row-level checks read only the new ones.

Raw Parquet files are written once per landed export and never change afterwards (erasure
under ``segmart forget`` rewrites a file, which gives it a new size and mtime). Re-validating
every row of every file on each run costs most of a small run's checks (17 s of a 220 s
one-day run at scale 1, for ``raw__events``). So a raw suite's row-level expectations, and its
uniqueness expectations whose key includes ``_file_hash`` (duplicates can only occur within a
file), read only the files this ledger does not list. Schema, column-type, row-count,
aggregate and other uniqueness expectations still read every file.

The ledger, ``{home}/state/quality/<suite>.files.json``, lists each data file with its size
and mtime and the digest of the suite (its expectations and the shared parameters). It is
rewritten when a run of the suite had no blocking (``error``) failure: a file whose rows fail
an error expectation is checked again on every run until it is fixed or removed, while a
``warn`` expectation is reported once, by the run that first read the file (as a warning
is: it never blocks). A changed suite or shared parameter file, or ``quality.raw_rows:
all_files`` in the configuration, validates every file again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines.core.files import atomic_write_text
from pipelines.quality.suites import Suite, shared_parameters

FILE_SCOPED_KEY = "_file_hash"  # a uniqueness key with this column is unique per file
MODES = ("new_files", "all_files")


def suite_digest(suite: Suite) -> str:
    """A digest of what decides a row's outcome: the expectations and shared parameters."""
    payload = {
        "expectations": [e.to_json() for e in suite.expectations],
        "key": list(suite.key),
        "parameters": shared_parameters(),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


class ValidatedFiles:
    """The ledger of one suite: files passed under one suite digest."""

    def __init__(self, directory: Path, suite: Suite) -> None:
        self.path = directory / f"{suite.name}.files.json"
        self.digest = suite_digest(suite)

    def _passed(self) -> dict[str, list[int]]:
        if not self.path.exists():
            return {}
        data = json.loads(self.path.read_text())
        if data.get("digest") != self.digest:
            return {}
        return data.get("files") or {}

    def pending(self, files: list[Path]) -> list[Path]:
        """The files not passed yet under this suite (new, rewritten, or all if it changed)."""
        passed = self._passed()
        return [f for f in files if passed.get(f.name) != _stat(f)]

    def record(self, files: list[Path]) -> None:
        """Mark ``files`` (every data file that was checked together) as passed."""
        data = {"digest": self.digest, "files": {f.name: _stat(f) for f in sorted(files)}}
        atomic_write_text(self.path, json.dumps(data, indent=1))
