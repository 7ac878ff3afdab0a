"""A SIGKILL in the middle of ``run_ingest``: the next run ends with the same raw layer."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb

from pipelines.ingest.loader import run_ingest
from tests.ingest.conftest import ORDERS_MAPPING

FILES, ROWS = 14, 100
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pipelines.ingest import loader
    loader.DEFAULT_CHUNK_ROWS = 2 * {rows}  # small batches: files are written as we go
    progress_file = Path(sys.argv[2])
    def progress(done, total, name):
        progress_file.write_text(str(done))
        time.sleep(0.1)
    loader.run_ingest(sys.argv[1], progress=progress)
    """
).format(rows=ROWS)


def _make_home(root: Path) -> Path:
    (root / "mappings").mkdir(parents=True)
    (root / "mappings" / "test_orders.yaml").write_text(ORDERS_MAPPING)
    landing = root / "landing"
    landing.mkdir()
    for f in range(FILES):
        lines = ["order_ref,ordered_on,amount,email"]
        lines += [f"F{f}-{r},{1 + r % 28:02d}/03/2024,{r}.5,u{r}@example.com" for r in range(ROWS)]
        lines.append(f"F{f}-bad,31/02/2024,1,x@example.com")  # quarantined: no 31 February
        path = landing / f"orders_{f:02d}.csv"
        path.write_text("\n".join(lines) + "\n")
        os.utime(path, ns=(1_700_000_000_000_000_000 + f, 1_700_000_000_000_000_000 + f))
    return root


def _layer(home: Path, layer: str) -> list[tuple]:
    files = sorted((home / layer / "orders").glob("[0-9a-f]*.parquet"))
    cols = "_file_hash, _source_row, count(*) AS n"
    sql = f"select {cols} from read_parquet({[str(f) for f in files]}) group by all order by all"
    return duckdb.sql(sql).fetchall()


def test_sigkill_mid_ingest_then_rerun_equals_an_uninterrupted_run(tmp_path, caplog):
    killed = _make_home(tmp_path / "killed")
    clean = _make_home(tmp_path / "clean")
    run_ingest(clean)

    progress = tmp_path / "progress.txt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(killed), str(progress)], env=env)
    deadline = time.time() + 90
    while time.time() < deadline:
        text = progress.read_text().strip() if progress.exists() else ""
        if text.isdigit() and int(text) >= 6:  # 6 files started: some are written
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((killed / "manifest").glob("*.json")))
    assert 0 < done < FILES, "the kill should land mid-way"
    # a temp file of the killed process, as a kill during a Parquet write leaves it
    stale = killed / "raw" / "orders" / f".{'0' * 64}.parquet.{proc.pid}.tmp"
    stale.write_bytes(b"PAR1 half written")

    with caplog.at_level(logging.WARNING, logger="pipelines.ingest.loader"):
        report = run_ingest(killed)
    assert not stale.exists()
    assert any("stale temp file" in r.getMessage() for r in caplog.records)
    assert report.unchanged == done and len(report.files) == FILES - done

    assert _layer(killed, "raw") == _layer(clean, "raw")
    assert _layer(killed, "quarantine") == _layer(clean, "quarantine")
    rows = _layer(killed, "raw")
    assert len(rows) == FILES * ROWS and {n for *_, n in rows} == {1}  # no duplicate rows
    assert sorted(p.name for p in (killed / "manifest").glob("*.json")) == sorted(
        p.name for p in (clean / "manifest").glob("*.json")
    )
    assert not list(killed.rglob("*.tmp"))
    shutil.rmtree(tmp_path / "killed")
