"""Content signatures of a Python model step's inputs, stored with its outputs.

The steps between the dbt models (CLV, the k-means clusters, Markov / Shapley attribution) read
a few relations of the DuckDB warehouse and replace tables of schema ``ml``. When nothing they
read changed since their last successful run, a refit would write the same tables again: the
step keeps its outputs instead (no fit, no write) and says so in its Dagster metadata.

A step's **signature** is the sha256 of

* its code version (:func:`code_version`: the step package's Python sources and the versions
  of the libraries its result depends on; also the Dagster ``code_version`` of its assets);
* its configuration (the validated spec, as text);
* per input query (exactly the rows and columns the step reads): the row count and the sum of
  the rows' 64-bit DuckDB ``hash`` as an exact ``hugeint`` (independent of row order; any
  changed, added, removed or repeated row changes it), floating-point columns rounded to
  FLOAT_DIGITS significant digits first (see there).

It is stored in ``ml.step_signatures`` (step, signature, recorded_at) **in the same
transaction** as the step's outputs (:func:`record_signature`), so the stored signature always
describes the inputs of the tables beside it: a crash leaves both old or both new. A step keeps
its outputs only when the stored signature equals the new one and every output table exists.
The signature is also the ``DataVersion`` of the step's materializations, so the Dagster UI
shows which runs changed them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import duckdb

SIGNATURES_TABLE = "step_signatures"
# floating-point inputs are fingerprinted to this many significant digits (and -0.0 as 0.0):
# dbt rebuilds of the same rows differ in the last bits of parallel float aggregates
# (int_customers_profiled.return_rate: 433 of 27,744 values within 6e-16 relative between a
# full and an incremental build of the same data, scale 1), which must not refit every run;
# a change below ~1e-9 relative of a float input keeps the outputs
FLOAT_DIGITS = 9
FLOAT_FORMAT = f"%.{FLOAT_DIGITS - 1}e"


def code_version(package_dir: Path, libraries: tuple[str, ...] = ()) -> str:
    """sha256 (16 hex digits) of the package's ``*.py`` sources and the libraries' versions."""
    digest = hashlib.sha256()
    for path in sorted(Path(package_dir).glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for library in libraries:
        digest.update(f"{library}=={importlib.metadata.version(library)}\0".encode())
    return digest.hexdigest()[:16]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def query_fingerprint(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> list:
    """[rows, sum of the rows' hashes] of a query's result (its columns, types and values;
    floating-point values to FLOAT_DIGITS significant digits)."""
    columns = con.execute(f"select * from ({sql}) as q limit 0", params or []).description
    values = ", ".join(
        f"printf('{FLOAT_FORMAT}', {_quote(name)} + 0.0) as {_quote(name)}"
        if str(kind) in ("DOUBLE", "FLOAT")
        else _quote(name)
        for name, kind, *_ in columns
    )
    count, total = con.execute(
        f"select count(*), cast(coalesce(sum(cast(hash(r) as hugeint)), 0) as varchar) "
        f"from (select {values} from ({sql}) as q) as r",
        params or [],
    ).fetchone()
    return [int(count), total]


def step_signature(code: str, config: str, fingerprints: dict[str, object]) -> str:
    """The signature of one run of a step (sha256 hex)."""
    text = json.dumps(
        {"code": code, "config": config, "inputs": fingerprints}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the connection's catalog."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def stored_signature(con: duckdb.DuckDBPyConnection, schema: str, step: str) -> str | None:
    """The signature recorded with the step's outputs, None when there is none."""
    if not table_exists(con, schema, SIGNATURES_TABLE):
        return None
    row = con.execute(
        f"select signature from {schema}.{SIGNATURES_TABLE} where step = ?", [step]
    ).fetchone()
    return row[0] if row else None


def unchanged(
    con: duckdb.DuckDBPyConnection, schema: str, step: str, signature: str, outputs: list[str]
) -> bool:
    """True when the stored signature equals ``signature`` and every output table exists."""
    return stored_signature(con, schema, step) == signature and all(
        table_exists(con, schema, table) for table in outputs
    )


def record_signature(
    con: duckdb.DuckDBPyConnection, schema: str, step: str, signature: str
) -> None:
    """Store the step's signature; call inside the transaction that writes its outputs."""
    con.execute(
        f"create table if not exists {schema}.{SIGNATURES_TABLE} "
        "(step varchar primary key, signature varchar not null, recorded_at timestamp not null)"
    )
    con.execute(f"delete from {schema}.{SIGNATURES_TABLE} where step = ?", [step])
    con.execute(
        f"insert into {schema}.{SIGNATURES_TABLE} values (?, ?, current_timestamp)",
        [step, signature],
    )
