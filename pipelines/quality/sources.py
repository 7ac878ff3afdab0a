"""The data a suite checks, exposed as a DuckDB view named ``source``.

Raw entities are read with ``read_parquet('{home}/raw/{entity}/*.parquet', union_by_name=true)``
(the zero-row ``_schema.parquet`` pins the types); marts are read from the warehouse attached
**read-only** (``ATTACH ... (READ_ONLY)`` on an in-memory connection), so a check never takes
the writer lock. Rows reach pandas only in bounded chunks (:meth:`DuckSource.chunks`); counts,
uniqueness and aggregates are computed by DuckDB over the whole data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

VECTOR_SIZE = 2048  # rows per DuckDB vector; chunks are a whole number of vectors


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class DuckSource:
    """A connection holding the temp view ``source`` plus what it is, for metadata."""

    con: duckdb.DuckDBPyConnection
    description: str
    files: int | None = None
    expected_types: dict[str, str] | None = None
    # the rows that row-level expectations read: all of them, or a view of the new raw files
    row_view: str = "source"
    row_note: str | None = None
    _columns: dict[str, str] | None = field(default=None, init=False, repr=False)

    def columns(self) -> dict[str, str]:
        """Column name -> DuckDB type of the view (described once: the view never changes,
        and over many raw files each describe reads every footer)."""
        if self._columns is None:
            rows = self.con.execute("describe source").fetchall()
            self._columns = {r[0]: r[1] for r in rows}
        return dict(self._columns)

    def row_count(self, view: str = "source") -> int:
        return int(self.con.execute(f"select count(*) from {view}").fetchone()[0])

    def empty_frame(self) -> pd.DataFrame:
        """Zero rows with every column, typed as a chunk would be."""
        return self.con.execute("select * from source limit 0").fetch_df()

    def chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The rows of :attr:`row_view`, ``columns`` only, as DataFrames of at most
        ``chunk_rows`` rows.

        Chunks are whole DuckDB vectors (2048 rows), so ``chunk_rows`` is rounded down to a
        multiple of 2048 when it is larger.
        """
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be positive")
        # whole vectors per fetch; below one vector, fetched vectors are sliced
        vectors = max(1, chunk_rows // VECTOR_SIZE)
        select = ", ".join(quote(c) for c in columns) if columns else "1 as _row"
        result = self.con.execute(f"select {select} from {self.row_view}")
        while True:
            fetched = result.fetch_df_chunk(vectors)
            if fetched.empty:
                return
            for start in range(0, len(fetched), chunk_rows):
                yield fetched.iloc[start : start + chunk_rows].reset_index(drop=True)

    def duplicates(
        self, columns: list[str], *, ignore_if: str, sample: int, view: str = "source"
    ) -> dict:
        """Rows whose ``columns`` combination occurs more than once in ``view``.

        ``ignore_if`` follows GX: ``any_value_is_missing`` / ``all_values_are_missing`` /
        ``never`` decides which rows take part. Returns considered rows, duplicated rows,
        duplicated key combinations and a sample of those combinations.
        """
        cols = ", ".join(quote(c) for c in columns)
        nulls = [f"{quote(c)} is null" for c in columns]
        where = {
            "any_value_is_missing": " or ".join(nulls),
            "all_values_are_missing": " and ".join(nulls),
            "never": "false",
        }[ignore_if]
        self.con.execute(
            f"""
            create or replace temp table _dups as
            select {cols}, count(*) as _n from {view} where not ({where})
            group by all having count(*) > 1
            """
        )
        considered = self.con.execute(
            f"select count(*) from {view} where not ({where})"
        ).fetchone()[0]
        rows, keys = self.con.execute("select coalesce(sum(_n), 0), count(*) from _dups").fetchone()
        samples = self.con.execute(
            f"select {cols} from _dups order by _n desc, {cols} limit {int(sample)}"
        ).fetch_df()
        self.con.execute("drop table _dups")
        return {
            "considered": int(considered),
            "unexpected_rows": int(rows),
            "duplicated_keys": int(keys),
            "sample": samples,
        }

    def column_types(self) -> pd.DataFrame:
        """One row per column: name, DuckDB type and the type the contract expects (or null)."""
        expected = self.expected_types or {}
        rows = [
            {"column_name": name, "column_type": typ, "expected_type": expected.get(name, typ)}
            for name, typ in self.columns().items()
        ]
        missing = [
            {"column_name": name, "column_type": None, "expected_type": typ}
            for name, typ in expected.items()
            if name not in {r["column_name"] for r in rows}
        ]
        return pd.DataFrame(rows + missing, columns=["column_name", "column_type", "expected_type"])

    def fetch(self, sql: str, max_rows: int) -> pd.DataFrame:
        """An aggregate query over ``source``; refuses results larger than ``max_rows``."""
        frame = self.con.execute(f"select * from ({sql}) limit {int(max_rows) + 1}").fetch_df()
        if len(frame) > max_rows:
            raise ValueError(f"aggregate returned more than {max_rows} rows; aggregate further")
        return frame


def _connection(settings: dict | None) -> duckdb.DuckDBPyConnection:
    settings = settings or {}
    config = {}
    if settings.get("memory_limit"):
        config["memory_limit"] = str(settings["memory_limit"])
    if settings.get("threads"):
        config["threads"] = int(settings["threads"])
    con = duckdb.connect(":memory:", config=config)
    # every check reads the same files several times (columns, counts, the aggregate):
    # DuckDB keeps their Parquet footers instead of parsing each again per query
    con.execute("set parquet_metadata_cache = true")
    return con


def raw_data_files(raw_dir: Path, entity: str) -> list[Path]:
    """The data files of ``{raw}/{entity}/`` (not the zero-row ``_schema.parquet``), sorted."""
    folder = raw_dir / entity
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise FileNotFoundError(f"raw layer of {entity} is missing: no Parquet files in {folder}")
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("_"))


@contextmanager
def raw_source(
    raw_dir: Path,
    entity: str,
    expected_types: dict[str, str] | None,
    settings: dict | None = None,
    *,
    row_files: list[Path] | None = None,
) -> Iterator[DuckSource]:
    """The raw layer of ``entity``: every Parquet file of ``{raw}/{entity}/``.

    With ``row_files``, row-level expectations read only those files (view ``row_source``,
    typed like ``source`` through the schema file); everything else still reads every file.
    """
    folder = raw_dir / entity
    data_files = raw_data_files(raw_dir, entity)
    con = _connection(settings)
    try:
        pattern = sql_literal(str(folder / "*.parquet"))
        con.execute(
            f"create temp view source as select * from read_parquet({pattern}, union_by_name=true)"
        )
        source = DuckSource(
            con,
            description=f"raw/{entity}/*.parquet ({len(data_files)} data files)",
            files=len(data_files),
            expected_types=expected_types,
        )
        if row_files is not None:
            con.execute(f"create temp view row_source as {_rows_of(con, folder, row_files)}")
            source.row_view = "row_source"
            source.row_note = (
                f"row-level expectations on {len(row_files)} new or changed of "
                f"{len(data_files)} raw files; the others passed this suite before"
            )
        yield source
    finally:
        con.close()


def _rows_of(con: duckdb.DuckDBPyConnection, folder: Path, files: list[Path]) -> str:
    """A select of ``files`` with exactly the columns and types of the view ``source``
    (a column that none of them has, e.g. added by a later export, is null)."""
    columns = con.execute("describe source").fetchall()
    typed = sorted(folder.glob("_*.parquet")) + list(files)  # the schema file pins types
    if not files:
        return "select * from source limit 0"
    listing = ", ".join(sql_literal(str(p)) for p in typed)
    have = {
        r[0]
        for r in con.execute(
            f"describe select * from read_parquet([{listing}], union_by_name=true)"
        ).fetchall()
    }
    select = ", ".join(
        f"cast({quote(name)} as {typ}) as {quote(name)}"
        if name in have
        else f"cast(null as {typ}) as {quote(name)}"
        for name, typ, *_ in columns
    )
    return f"select {select} from read_parquet([{listing}], union_by_name=true)"


@contextmanager
def warehouse_source(
    warehouse: Path, schema: str, table: str, settings: dict | None = None
) -> Iterator[DuckSource]:
    """A table of the warehouse, attached read-only."""
    if not warehouse.exists():
        raise FileNotFoundError(f"warehouse {warehouse} does not exist")
    con = _connection(settings)
    try:
        con.execute(f"attach {sql_literal(str(warehouse))} as wh (read_only)")
        con.execute(f"create temp view source as select * from wh.{quote(schema)}.{quote(table)}")
        yield DuckSource(con, description=f"warehouse {schema}.{table}")
    finally:
        con.close()
