"""A write that fails for lack of space mid-ingest: a clear error, nothing half-kept, and the
next run with space ends with the same raw layer as a run that never failed.

The child process runs under ``RLIMIT_FSIZE`` (no root needed): any write past the limit fails
with EFBIG, as a full disk fails with ENOSPC; both are reported the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pipelines.ingest.loader import run_ingest
from tests.reliability.test_kill_ingest import FILES, _layer, _make_home

CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pipelines.ingest.loader import IngestDiskFull, run_ingest
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        run_ingest(sys.argv[1])
    except IngestDiskFull as exc:
        print(exc)
        sys.exit(3)
    """
)


def _consistent(home: Path) -> int:
    """Every manifest record has its raw and quarantine Parquet; no temp file is left."""
    records = [json.loads(p.read_text()) for p in (home / "manifest").glob("*.json")]
    for r in records:
        assert r["status"] == "loaded", r  # never rejected for the disk's fault
        assert (home / "raw" / "orders" / f"{r['file_hash']}.parquet").exists()
        assert (home / "quarantine" / "orders" / f"{r['file_hash']}.parquet").exists()
    assert not list(home.rglob("*.tmp"))
    assert not list((home / "rejected").iterdir())
    return len(records)


def test_file_size_limit_mid_ingest_is_a_clear_error_and_the_rerun_completes(tmp_path):
    full = _make_home(tmp_path / "full")
    clean = _make_home(tmp_path / "clean")
    run_ingest(clean)
    sizes = sorted(p.stat().st_size for p in (clean / "raw" / "orders").glob("[0-9a-f]*.parquet"))
    limit = sizes[len(sizes) // 2] - 1  # about half the files cannot be written

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(full), str(limit)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 3, child.stderr
    message = child.stdout.strip()
    assert message.startswith(f"disk full while writing under {full}"), message
    assert "File too large" in message and "run again" in message
    assert "Traceback" not in child.stderr
    assert _consistent(full) < FILES

    report = run_ingest(full)  # space again
    assert report.unchanged + len(report.files) == FILES
    assert _consistent(full) == FILES
    assert _layer(full, "raw") == _layer(clean, "raw")
    assert _layer(full, "quarantine") == _layer(clean, "quarantine")
