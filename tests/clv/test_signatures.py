"""pipelines/core/signatures.py: what changes a fingerprint and what does not (in DuckDB)."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.core.signatures import (
    query_fingerprint,
    record_signature,
    stored_signature,
    unchanged,
)

ROWS = [("a", 1, 2.5), ("b", 2, 0.1 + 0.2), ("c", None, None)]


def _fingerprint(rows) -> list:
    con = duckdb.connect()
    con.execute("create table t (k varchar, n integer, x double)")
    con.executemany("insert into t values (?, ?, ?)", rows)
    return query_fingerprint(con, "select k, n, x from t where n is null or n >= ?", [0])


def test_row_order_does_not_matter_and_every_row_change_does():
    base = _fingerprint(ROWS)
    assert base == _fingerprint(list(reversed(ROWS)))
    assert base[0] == 3
    changed = [
        [("a", 1, 2.5), ("b", 2, 0.30001), ("c", None, None)],  # a value
        [("a", 1, 2.5), ("b", 3, 0.1 + 0.2), ("c", None, None)],  # an integer
        [("a", 1, 2.5), ("b", 2, 0.1 + 0.2)],  # a row removed
        [*ROWS, ("a", 1, 2.5)],  # a row repeated
        [("a", 1, 2.5), ("b", 2, 0.1 + 0.2), ("c", None, 0.0)],  # a null filled
    ]
    fingerprints = [_fingerprint(rows) for rows in changed]
    assert all(f != base for f in fingerprints)
    assert len({tuple(f) for f in fingerprints}) == len(changed)


def test_last_bits_of_a_float_and_negative_zero_do_not_count():
    base = _fingerprint(ROWS)
    # 0.1 + 0.2 and 0.3 differ in the last bit (a sum taken in another order)
    assert 0.1 + 0.2 != 0.3
    assert _fingerprint([("a", 1, 2.5), ("b", 2, 0.3), ("c", None, None)]) == base
    assert _fingerprint([("z", 0, 0.0)]) == _fingerprint([("z", 0, -0.0)])


def test_signature_is_stored_with_the_outputs_and_compared(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema ml")
    assert stored_signature(con, "ml", "step") is None
    con.execute("begin transaction")
    con.execute("create table ml.out as select 1 as v")
    record_signature(con, "ml", "step", "s1")
    con.execute("commit")
    assert unchanged(con, "ml", "step", "s1", ["out"])
    assert not unchanged(con, "ml", "step", "s2", ["out"])
    assert not unchanged(con, "ml", "step", "s1", ["out", "missing_table"])
    con.execute("begin transaction")
    record_signature(con, "ml", "step", "s2")
    con.execute("rollback")  # a failed write keeps the old signature with the old outputs
    assert stored_signature(con, "ml", "step") == "s1"


@pytest.mark.parametrize("kind", ["float", "double"])
def test_both_float_types_are_rounded(kind):
    con = duckdb.connect()
    a = query_fingerprint(con, f"select cast(1.0 as {kind}) as x")
    b = query_fingerprint(con, f"select cast(1.0 as {kind}) + cast(1e-14 as {kind}) as x")
    assert a == b
