"""Every mart, before and after (issue 20.7): the published marts of the demo equal a golden.

The golden (``marts_golden.json`` next to this file) holds one fingerprint per published mart:
its row count, its column names and types, an order-independent hash of its rows and one of
each column (floats binned to one part in a million, bin edges off round decimals, so a sum
taken in another order, ~1e-15 relative, hashes the same but for about one value in 1e8), and the sum of each numeric column. It was computed
from the demo landing the other end-to-end tests share (tests/shared_homes.py: scale 0.01,
seed 11, PII key ``test-key``) run through the real job by the commit named in the golden
(the session's start, 2141470, before issue 20's model changes). This test runs the current
job on the same landing (the shared demo home: no run of its own when another module built
it) and compares mart by mart; a failure says which columns changed, the rows and the sums
before and after.

When a change to what the marts hold is intended, re-bless (one line; builds the demo home
with the current code in a temporary directory, ~2 minutes):

    .venv/bin/python -m tests.pipeline.test_marts_unchanged --bless

(``--home H`` fingerprints an already built home instead; the golden records the commit and
the landing's hash, and the test refuses to compare against another landing.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

GOLDEN = Path(__file__).with_name("marts_golden.json")
FLOAT_REL_STEP = 1e-6  # floats hashed by bins this wide (relative); see _float_bin
FLOAT_BIN_OFFSET = 0.5 + 0.2360679775  # bin edges off round decimals (an irrational's digits)
FLOAT_ZERO = 1e-9  # below this (absolute), a float hashes as 0
SUM_REL_TOL = 1e-9  # numeric column sums, compared for the message (and as a check)
# Columns whose values depend on when or by which run the marts were built, not on the data:
# lineage and load-time columns (leading underscore) and run ids. None is published today.
EXCLUDED_COLUMNS = ("run_id", "invocation_id", "published_at", "built_at", "loaded_at")
DEMO = {"scale": 0.01, "seed": 11, "pii_key": "test-key"}  # tests/shared_homes.py


# ------------------------------------------------------------------------------ fingerprints
def _excluded(column: str) -> bool:
    return column.startswith("_") or column.lower() in EXCLUDED_COLUMNS


def _float_bin(value: float) -> str:
    """A float as the number of its bin: bins FLOAT_REL_STEP wide relative to the value (on a
    log scale) and offset so that no bin edge falls on a short decimal. Rounding to N digits
    would not do: money sums such as 1234.565 lie exactly on a rounding edge, and the last
    bit of a sum taken in another order (DuckDB's parallel aggregates) decides the side."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) < FLOAT_ZERO:
        return "0"  # -0.0, 0.0 and a difference of equal sums that left 1e-17
    step = math.floor(math.log(abs(value)) / math.log1p(FLOAT_REL_STEP) + FLOAT_BIN_OFFSET)
    return f"{'-' if value < 0 else ''}f{step}"


def _canonical(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _float_bin(value)
    if isinstance(value, Decimal):
        return _canonical(float(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_canonical(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)


def _digest(lines: list[str]) -> str:
    """Order-independent: the sorted lines, hashed."""
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:32]


def mart_fingerprint(con: duckdb.DuckDBPyConnection, mart: str) -> dict:
    """Row count, columns and types, row and column hashes, numeric sums of one mart."""
    described = con.execute(f'describe "{mart}"').fetchall()
    columns = [(name, str(kind)) for name, kind, *_ in described if not _excluded(name)]
    names = [name for name, _ in columns]
    select = ", ".join(f'"{n}"' for n in names) or "1"
    rows = con.execute(f'select {select} from "{mart}"').fetchall()
    canonical = [[_canonical(v) for v in row] for row in rows]
    numeric = [
        n
        for n, kind in columns
        if kind.split("(")[0] in ("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT")
    ]
    sums = {}
    if numeric and rows:
        totals = con.execute(
            "select " + ", ".join(f'sum("{n}")::double' for n in numeric) + f' from "{mart}"'
        ).fetchone()
        sums = {n: (None if t is None else float(t)) for n, t in zip(numeric, totals, strict=True)}
    return {
        "rows": len(rows),
        "columns": [list(c) for c in columns],
        "content": _digest(["|".join(r) for r in canonical]),
        "column_content": {n: _digest([r[i] for r in canonical]) for i, n in enumerate(names)},
        "sums": sums,
    }


def marts_fingerprint(home: Path) -> dict[str, dict]:
    """{mart: fingerprint} of every mart in the home's published serving copy."""
    with duckdb.connect(str(home / "serving" / "marts.duckdb"), read_only=True) as con:
        marts = sorted(
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_type in ('BASE TABLE', 'VIEW')"
            ).fetchall()
        )
        return {m: mart_fingerprint(con, m) for m in marts}


def landing_fingerprint(home: Path) -> str:
    """Hash of every file under the home's landing (names and bytes)."""
    h = hashlib.sha256()
    root = home / "landing"
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:32]


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=SUM_REL_TOL, abs_tol=1e-9)


def mart_differences(before: dict, after: dict) -> list[str]:
    """What changed in one mart between two fingerprints, in words; empty when equal."""
    out = []
    if before["columns"] != after["columns"]:
        old, new = dict(map(tuple, before["columns"])), dict(map(tuple, after["columns"]))
        gone = [c for c in old if c not in new]
        added = [c for c in new if c not in old]
        retyped = [f"{c} {old[c]} -> {new[c]}" for c in old if c in new and old[c] != new[c]]
        order = [c for c in old if c in new] != [c for c in new if c in old]
        for label, items in (("removed", gone), ("added", added), ("retyped", retyped)):
            if items:
                out.append(f"columns {label}: {', '.join(items)}")
        if order:
            out.append("column order changed")
    if before["rows"] != after["rows"]:
        out.append(f"rows {before['rows']} -> {after['rows']}")
    changed = [
        c
        for c, digest in before["column_content"].items()
        if c in after["column_content"] and after["column_content"][c] != digest
    ]
    if changed:
        out.append(f"values changed in: {', '.join(changed)}")
    for c, total in before["sums"].items():
        if c in after["sums"] and not _close(total, after["sums"][c]):
            out.append(f"sum({c}) {total!r} -> {after['sums'][c]!r}")
    if not out and before["content"] != after["content"]:
        out.append("same values per column, combined into rows differently")
    return out


# ------------------------------------------------------------------------------ the tests
def _golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def current(tmp_path_factory):
    """The shared demo home, run by the current job, and its marts' fingerprints."""
    from tests.shared_homes import StoredRun, demo_home

    home = demo_home(tmp_path_factory)
    run = StoredRun(home)
    assert run.success, "the demo run failed; tests/pipeline/test_demo_run.py says why"
    return {"landing": landing_fingerprint(home), "marts": marts_fingerprint(home)}


@pytest.mark.slow
@pytest.mark.xdist_group("demo_run")
def test_the_golden_is_for_this_landing(current):
    golden = _golden()
    assert current["landing"] == golden["landing"], (
        "the demo landing is not the one the golden was computed from (the generator or "
        f"tests/shared_homes.py changed since {golden['computed_by']}): re-bless, see "
        f"{Path(__file__).name}'s docstring"
    )


@pytest.mark.slow
@pytest.mark.xdist_group("demo_run")
def test_the_same_marts_are_published(current):
    golden = set(_golden()["marts"])
    now = set(current["marts"])
    assert now == golden, f"marts removed: {sorted(golden - now)}; added: {sorted(now - golden)}"


@pytest.mark.slow
@pytest.mark.xdist_group("demo_run")
@pytest.mark.parametrize(
    "mart", sorted(json.loads(GOLDEN.read_text())["marts"]) if GOLDEN.exists() else []
)
def test_mart_unchanged(current, mart):
    golden = _golden()
    if mart not in current["marts"]:
        pytest.fail(f"{mart} is no longer published")
    before, after = golden["marts"][mart], current["marts"][mart]
    differences = mart_differences(before, after)
    assert before["content"] == after["content"] and not differences, (
        f"{mart} differs from the golden ({golden['computed_by']}):\n  "
        + "\n  ".join(differences)
        + "\n(intended? re-bless: .venv/bin/python -m tests.pipeline.test_marts_unchanged --bless)"
    )


def _fingerprint_db(tmp_path: Path, rows: list[tuple]) -> dict:
    path = tmp_path / f"m{len(list(tmp_path.iterdir()))}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create table m (k varchar, n bigint, x double, d date)")
        con.executemany("insert into m values (?, ?, ?, ?)", rows)
        return mart_fingerprint(con, "m")


def test_fingerprint_is_order_free_and_tolerates_float_noise(tmp_path):
    rows = [("a", 1, 0.1 + 0.2, date(2024, 1, 1)), ("b", 2, 10.0, None), ("c", None, None, None)]
    base = _fingerprint_db(tmp_path, rows)
    shuffled = [rows[2], rows[0], rows[1]]
    noisy = [(k, n, None if x is None else x * (1 + 1e-14), d) for k, n, x, d in shuffled]
    again = _fingerprint_db(tmp_path, noisy)
    assert mart_differences(base, again) == []
    assert {k: v for k, v in again.items() if k != "sums"} == {
        k: v for k, v in base.items() if k != "sums"
    }
    assert base["rows"] == 3
    assert base["columns"] == [["k", "VARCHAR"], ["n", "BIGINT"], ["x", "DOUBLE"], ["d", "DATE"]]
    assert base["sums"] == {"n": 3.0, "x": pytest.approx(10.3)}


def test_a_money_value_on_a_rounding_edge_bins_the_same_whichever_its_last_bit():
    # 1234.565 rounds to 6 digits either way depending on its last bit; the bins do not care
    for value in (1234.565, 348.4986625, 0.125, 2.5, -17.0005, 1e6):
        for neighbour in (math.nextafter(value, math.inf), math.nextafter(value, -math.inf)):
            assert _float_bin(neighbour) == _float_bin(value), value
    assert _float_bin(1234.565) != _float_bin(1234.565 * (1 + 3e-6))  # a real change is seen
    assert _float_bin(-0.0) == _float_bin(1e-17) == "0"
    assert _float_bin(-2.5) != _float_bin(2.5)


def test_fingerprint_names_the_changed_column(tmp_path):
    rows = [("a", 1, 0.5, date(2024, 1, 1)), ("b", 2, 10.0, date(2024, 1, 2))]
    base = _fingerprint_db(tmp_path, rows)
    moved = _fingerprint_db(tmp_path, [("a", 1, 10.0, rows[0][3]), ("b", 2, 0.5, rows[1][3])])
    assert mart_differences(base, moved) == [
        "same values per column, combined into rows differently"
    ]
    assert moved["content"] != base["content"]
    changed = _fingerprint_db(tmp_path, [rows[0], ("b", 2, 10.01, date(2024, 1, 2))])
    assert mart_differences(base, changed) == ["values changed in: x", "sum(x) 10.5 -> 10.51"]
    shorter = _fingerprint_db(tmp_path, rows[:1])
    assert mart_differences(base, shorter)[0] == "rows 2 -> 1"


# ------------------------------------------------------------------------------ re-bless
def _build_demo(home: Path) -> None:
    """The shared demo home (same landing, key and job), built in a child process."""
    env = {**os.environ, "SEGMART_PII_KEY": DEMO["pii_key"]}
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    code = "import sys; from pathlib import Path; from tests.shared_homes import build_demo_home; "
    code += "build_demo_home(Path(sys.argv[1]))"
    subprocess.run(
        [sys.executable, "-c", code, str(home)], check=True, env=env, cwd=GOLDEN.parents[2]
    )


def bless(home: Path | None, computed_by: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="marts_golden_") as tmp:
        if home is None:
            home = Path(tmp) / "home"
            _build_demo(home)
        golden = {
            "computed_by": computed_by,
            "demo": DEMO,
            "float_rel_step": FLOAT_REL_STEP,
            "excluded_columns": ["_*", *EXCLUDED_COLUMNS],
            "landing": landing_fingerprint(home),
            "marts": marts_fingerprint(home),
        }
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    return golden


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Re-bless the marts golden of this test.")
    parser.add_argument("--bless", action="store_true", required=True)
    parser.add_argument("--home", type=Path, help="a home the demo was run in (default: build)")
    parser.add_argument("--computed-by", help="what built it (default: this commit)")
    args = parser.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=GOLDEN.parent
    ).stdout.strip()
    golden = bless(args.home, args.computed_by or f"commit {commit}")
    print(f"wrote {GOLDEN}: {len(golden['marts'])} marts, by {golden['computed_by']}")


if __name__ == "__main__":
    main()
