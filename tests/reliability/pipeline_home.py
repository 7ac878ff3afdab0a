"""Helpers for the fault tests that run the real ``segmart`` command in a child process.

* :func:`start_run` / :func:`run` start ``python -m pipelines.cli run --home H`` in its own
  process group (so a test can SIGKILL the run with its dbt child), Dagster home inside H;
* :func:`mart_digest` is an order-free fingerprint of every published mart;
* :func:`duplicate_keys` checks the marts' declared keys (``unique`` / unique combinations in
  the dbt YAML) on the published copy, independently of dbt's own tests.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import yaml

from pipelines.core.settings import DBT_PROJECT_DIR, REPO_ROOT
from pipelines.serving.publish import FAULT_PAUSE_ENV

FLOAT_DIGITS = 9  # significant digits in digests and messages
REL_TOL, ABS_TOL = 1e-9, 1e-12  # float sums in another order differ in the last bits (~1e-15)


class Run:
    """A ``segmart run`` child process; its merged output is collected line by line."""

    def __init__(self, home: Path, extra_env: dict | None = None, args: tuple = ()):
        env = {k: v for k, v in os.environ.items() if k not in ("SEGMART_HOME", FAULT_PAUSE_ENV)}
        env.update({"DAGSTER_HOME": str(home / "dagster_home"), **(extra_env or {})})
        env["PYTHONPATH"] = str(REPO_ROOT)
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", "run", "--home", str(home), *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: dbt dies with it
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 900) -> None:
        deadline = time.time() + timeout
        while not condition():
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended before the fault point:\n{self.tail()}")
            if time.time() > deadline:
                self.kill()
                raise AssertionError(f"fault point not reached in {timeout}s:\n{self.tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group (the CLI, dbt and anything else it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(timeout=10)

    def finish(self, timeout: float = 1800) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(timeout=10)
        return code

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))


def run(home: Path, extra_env: dict | None = None, args: tuple = ()) -> Run:
    """Run the pipeline to the end; returns the finished :class:`Run`."""
    r = Run(home, extra_env, args)
    r.finish()
    return r


# ---------------------------------------------------------------------------- marts


def _canonical(value, digits: int = FLOAT_DIGITS) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == 0:
            return "0"  # -0.0 and 0.0
        return f"{value:.{digits}g}"
    if isinstance(value, Decimal):
        return _canonical(float(value), digits)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v, digits) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{k}:{_canonical(v, digits)}" for k, v in items) + "}"
    return repr(value)


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows in a canonical order: by every non-float column, then by the
    floats at 6 significant digits (the order only; values are compared in full).
    ``relation`` is a quoted, optionally schema-qualified name."""
    cur = con.execute(f"select * from {relation}")
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    floats = [i for i, t in enumerate(cur.description) if str(t[1]) in ("DOUBLE", "FLOAT")]
    others = [i for i in range(len(names)) if i not in floats]

    def order(row: tuple) -> tuple:
        return tuple(_canonical(row[i]) for i in others) + tuple(
            _canonical(row[i], 6) for i in floats
        )

    return names, sorted(rows, key=order)


def mart_rows(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The header and every row as a canonical string (floats to 9 significant digits)."""
    names, rows = _rows(con, f'"{table}"')
    return ["|".join(names), *("|".join(_canonical(v) for v in row) for row in rows)]


def mart_digest(home: Path) -> dict[str, str]:
    """{mart: sha256 of its canonical rows} from the published serving copy.

    For a quick look only: a float that lies exactly on a rounding boundary (348.4986625)
    rounds either way after a sum in another order; :func:`mart_diff` is the comparison.
    """
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        return {
            t: hashlib.sha256("\n".join(mart_rows(con, t)).encode()).hexdigest() for t in tables
        }


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return a == b


Snapshot = dict[str, tuple[list[str], list[tuple]]]


def snapshot(
    database: Path, schemas: tuple[str, ...] = (), tables: tuple[str, ...] = ()
) -> Snapshot:
    """{table: (columns, canonical rows)} of a DuckDB file: every base table and view (the
    serving copy's marts are views over Parquet), or those in ``schemas`` plus the named
    ``tables``."""
    with duckdb.connect(str(database), read_only=True) as con:
        found = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type in ('BASE TABLE', 'VIEW')"
        ).fetchall()
        return {
            name: _rows(con, f'"{schema}"."{name}"')
            for schema, name in found
            if not (schemas or tables) or schema in schemas or name in tables
        }


def snapshot_diff(a: Snapshot, b: Snapshot, limit: int = 5) -> dict[str, list[str]]:
    """{table: differences} between two snapshots; empty when identical.

    Identical means: the same tables, columns and number of rows, and row by row (in the
    canonical order) equal values, floats within REL_TOL: DuckDB sums doubles in parallel,
    so a sum's last bits depend on the order its threads met the rows.
    """
    out: dict[str, list[str]] = {}
    for t in sorted(set(a) ^ set(b)):
        out[t] = ["only in " + ("the first" if t in a else "the second")]
    for t in sorted(set(a) & set(b)):
        (na, ra), (nb, rb) = a[t], b[t]
        if na != nb or len(ra) != len(rb):
            out[t] = [f"columns {na} / {nb}, rows {len(ra)} / {len(rb)}"]
            continue
        bad = [
            (x, y)
            for x, y in zip(ra, rb, strict=True)
            if not all(_same(u, v) for u, v in zip(x, y, strict=True))
        ]
        if bad:
            out[t] = [f"{len(bad)} row(s) differ"] + [f"- {x}\n+ {y}"[:600] for x, y in bad[:limit]]
    return out


def mart_diff(a: Path, b: Path, limit: int = 5) -> dict[str, list[str]]:
    """{mart: differences} between the serving copies of two homes; empty when identical
    (see :func:`snapshot_diff`)."""
    return snapshot_diff(
        snapshot(a / "serving" / "marts.duckdb"), snapshot(b / "serving" / "marts.duckdb"), limit
    )


def declared_keys() -> dict[str, list[str]]:
    """{mart: key columns} from ``unique`` column tests and unique combinations in the YAML."""
    keys: dict[str, list[str]] = {}
    for path in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for test in model.get("data_tests", []) or []:
                if isinstance(test, dict):
                    for name, spec in test.items():
                        if name.endswith("unique_combination_of_columns"):
                            args = spec.get("arguments", spec)
                            keys[model["name"]] = list(args["combination_of_columns"])
                        if name == "column_rules":  # the folded column tests (issue 20.4)
                            unique = spec.get("arguments", spec).get("unique") or []
                            if unique and model["name"] not in keys:
                                keys[model["name"]] = [unique[0]]
            for column in model.get("columns", []) or []:
                tests = column.get("data_tests", []) or []
                if "unique" in tests and model["name"] not in keys:
                    keys[model["name"]] = [column["name"]]
    return keys


def duplicate_keys(home: Path) -> dict[str, int]:
    """{mart: rows beyond the first per declared key} on the serving copy (empty = none)."""
    out = {}
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("show tables").fetchall()}
        for mart, cols in declared_keys().items():
            if mart not in tables:
                continue
            key = ", ".join(f'"{c}"' for c in cols)
            extra = con.execute(
                f'select count(*) - count(distinct ({key})) from "{mart}"'
            ).fetchone()[0]
            if extra:
                out[mart] = extra
    return out


def serving_readable(home: Path) -> dict[str, int]:
    """Row counts of every table of the serving copy (raises if it is not a valid file)."""
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        return {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}


# ---------------------------------------------------------------------------- landings


def copy_landing(source: Path, home: Path) -> Path:
    """A fresh home whose landing is a copy of ``source`` (mtimes kept)."""
    shutil.copytree(source, home / "landing" / "demo", copy_function=shutil.copy2)
    return home


def _csv_parts(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(lines up to the header, data lines, footer lines) of a simple CSV export."""
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    rows = list(csv.reader(io.StringIO("".join(lines))))
    assert len(rows) == len(lines), f"{path.name}: multi-line cells; pick a simpler file"
    head = 0
    while len(rows[head]) < 3:  # title lines above the header
        head += 1
    end = len(lines)
    while rows[end - 1][0].startswith("Total"):
        end -= 1
    return lines[: head + 1], lines[head + 1 : end], lines[end:]


def shuffle_csv(path: Path, seed: int = 7) -> None:
    head, data, foot = _csv_parts(path)
    stat = path.stat()
    random.Random(seed).shuffle(data)
    path.write_text("".join(head + data + foot), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def split_csv(path: Path, first: str, second: str) -> tuple[Path, Path]:
    """Two files with the same preamble and header, each holding half of the data rows."""
    head, data, foot = _csv_parts(path)
    stat = path.stat()
    half = len(data) // 2
    a, b = path.with_name(first), path.with_name(second)
    a.write_text("".join(head + data[:half]), encoding="utf-8")
    b.write_text("".join(head + data[half:] + foot), encoding="utf-8")
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # the same place in the order
    path.unlink()
    return a, b


def shuffle_jsonl_gz(path: Path, seed: int = 7) -> None:
    stat = path.stat()
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    random.Random(seed).shuffle(lines)
    path.write_bytes(gzip.compress("".join(f"{line}\n" for line in lines).encode(), mtime=0))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
