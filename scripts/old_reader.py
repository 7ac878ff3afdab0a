"""Read the published serving copy with an older DuckDB, as BI tools that bundle one do.

    python scripts/old_reader.py SERVING_DB     # read every mart with DuckDB 1.1.3, compare
    python scripts/old_reader.py --prepare      # only create / reuse the old DuckDB's venv

An isolated virtualenv with ``duckdb==1.1.3`` and ``pytz`` (the 1.1 line, which many BI tools still bundle)
is created once in ``.venv-old/`` at the repository root (``SEGMART_OLD_READER_VENV`` to put it
elsewhere) and reused: later runs need no network. In that venv a child process opens
``SERVING_DB`` read-only, lists every mart (views and tables of schema ``main``) and reads each
one whole: rows and non-null values per column. This process reads the same with the current
DuckDB and compares. Prints one line per mart and a summary.

Exit codes: 0 every mart read and equal; 1 a mart differs or the old DuckDB cannot open or read
the file (the message says which); 3 the old DuckDB could not be installed (no network and no
cached venv): the caller may skip, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

OLD_DUCKDB = "1.1.3"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO_ROOT / ".venv-old"
# the 1.1 Python client needs pytz to return TIMESTAMP WITH TIME ZONE values
EXTRA_PACKAGES = ("pytz",)
INSTALL_TIMEOUT_S = 300
EXIT_NOT_INSTALLED = 3

# Runs inside the old venv (and, unchanged, with the current DuckDB): JSON on stdout.
READ_MARTS = r"""
import json, sys
import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
marts = [r[0] for r in con.execute(
    "select table_name from information_schema.tables where table_schema = 'main' "
    "order by table_name").fetchall()]
out = {"duckdb": duckdb.__version__, "marts": {}}
for mart in marts:
    name = '"' + mart.replace('"', '""') + '"'
    columns = [r[0] for r in con.execute(f"describe select * from {name}").fetchall()]
    counts = ", ".join('count("' + c.replace('"', '""') + '")' for c in columns)
    non_null = list(con.execute(f"select {counts} from {name}").fetchone()) if columns else []
    rows = 0
    result = con.execute(f"select * from {name}")
    while batch := result.fetchmany(10000):  # every value decoded by this DuckDB
        rows += len(batch)
    out["marts"][mart] = {"rows": rows, "non_null": dict(zip(columns, non_null))}
print(json.dumps(out))
"""


def venv_dir() -> Path:
    return Path(os.environ.get("SEGMART_OLD_READER_VENV") or DEFAULT_VENV)


def venv_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def installed_version(folder: Path) -> str | None:
    python = venv_python(folder)
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import duckdb, pytz; print(duckdb.__version__)"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def prepare(folder: Path) -> Path:
    """The venv's python with ``duckdb==OLD_DUCKDB``, created once; raises RuntimeError."""
    if installed_version(folder) == OLD_DUCKDB:
        return venv_python(folder)
    shutil.rmtree(folder, ignore_errors=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    try:
        if uv:  # uv reuses its download cache: quick, and offline once cached
            subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(folder)], check=True)
            cmd = [uv, "pip", "install", "-q", "--python", str(venv_python(folder))]
        else:
            venv.create(folder, with_pip=True)
            cmd = [str(venv_python(folder)), "-m", "pip", "install", "-q"]
        done = subprocess.run(
            [*cmd, f"duckdb=={OLD_DUCKDB}", *EXTRA_PACKAGES],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"cannot create the venv {folder}: {exc}") from exc
    if done.returncode != 0 or installed_version(folder) != OLD_DUCKDB:
        shutil.rmtree(folder, ignore_errors=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"cannot install duckdb=={OLD_DUCKDB}: {' / '.join(tail)}")
    return venv_python(folder)


def read_with(python: Path | str, database: Path) -> dict:
    done = subprocess.run(
        [str(python), "-c", READ_MARTS, str(database)], capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"{python} could not read {database}: {' / '.join(tail)}")
    return json.loads(done.stdout)


def compare(old: dict, new: dict) -> list[str]:
    """Differences between what the old and the current DuckDB read (empty: none)."""
    problems = []
    for mart in sorted(set(old["marts"]) | set(new["marts"])):
        if mart not in old["marts"] or mart not in new["marts"]:
            side = "the old" if mart not in old["marts"] else "the current"
            problems.append(f"{mart}: not seen by {side} DuckDB")
        elif old["marts"][mart] != new["marts"][mart]:
            problems.append(f"{mart}: old {old['marts'][mart]} / current {new['marts'][mart]}")
    if not new["marts"]:
        problems.append("no mart in the file")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", nargs="?", type=Path, help="serving/marts.duckdb")
    parser.add_argument("--prepare", action="store_true", help="only install / reuse the venv")
    args = parser.parse_args(argv)
    if not args.prepare and args.database is None:
        parser.error("give the serving database, or --prepare")
    try:
        python = prepare(venv_dir())
    except RuntimeError as exc:
        print(f"old reader: {exc}", file=sys.stderr)
        return EXIT_NOT_INSTALLED
    if args.prepare:
        print(f"old reader: DuckDB {OLD_DUCKDB} ready in {venv_dir()}")
        return 0
    try:
        old = read_with(python, args.database)
    except RuntimeError as exc:
        print(f"old reader: DuckDB {OLD_DUCKDB} FAILED: {exc}", file=sys.stderr)
        return 1
    new = read_with(sys.executable, args.database)
    for mart, seen in sorted(old["marts"].items()):
        print(f"{mart:<40} {seen['rows']:>10,} rows  (DuckDB {old['duckdb']})")
    problems = compare(old, new)
    for problem in problems:
        print(f"DIFFERS {problem}", file=sys.stderr)
    print(
        f"old reader: DuckDB {old['duckdb']} read {len(old['marts'])} marts of {args.database}"
        f"{'' if not problems else f', {len(problems)} differ from DuckDB ' + new['duckdb']}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
