"""Readers in other processes see the old or the new serving copy, never a mix or a lock error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipelines.serving import publish
from serving.warehouse import write_marts

MARTS = ["dim_customers", "kpi_channel_monthly"]
READER = Path(__file__).with_name("reader.py")


def _rows(version: int) -> int:
    return 40 + 10 * version


def _start(db: Path, stop: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, str(READER), str(db), str(stop), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    while (line := proc.stdout.readline()) and line.strip() != "ready":
        lines.append(line)
    proc.first_lines = lines
    return proc


def _read_until_version(proc: subprocess.Popen, version: int) -> None:
    """Keep the reopening reader running until it has read the last publish."""
    while line := proc.stdout.readline():
        proc.first_lines.append(line)
        if json.loads(line).get("versions") == [version]:
            return


def _observations(proc: subprocess.Popen) -> list[dict]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = proc.first_lines + out.splitlines()
    return [json.loads(line) for line in lines if line.strip() and line.strip() != "ready"]


def test_readers_see_old_or_new_never_a_mix_and_no_lock_error(tmp_path):
    write_marts(tmp_path, version=1, rows=_rows(1))
    publish(tmp_path, MARTS)
    db = tmp_path / "serving" / "marts.duckdb"
    stop = tmp_path / "stop"
    holder = _start(db, stop, "hold")
    reopener = _start(db, stop, "reopen")
    try:
        for version in range(2, 7):
            write_marts(tmp_path, version=version, rows=_rows(version))
            publish(tmp_path, MARTS)
        _read_until_version(reopener, 6)
    finally:
        stop.touch()
    held, reopened = _observations(holder), _observations(reopener)

    for obs in held + reopened:
        assert "error" not in obs, obs
        (version,) = obs["versions"]  # one version per table: never a half-written copy
        assert obs["kpi_versions"] == [version]  # and the same across tables
        assert obs["rows"] == _rows(version)
    # the process holding the old file open keeps reading the old copy
    assert {o["versions"][0] for o in held} == {1}
    # a reader that reopens moves forward only, and ends on the last publish
    seen = [o["versions"][0] for o in reopened]
    assert seen == sorted(seen)
    assert seen[0] == 1 and seen[-1] == 6
