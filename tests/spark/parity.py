"""Compare the marts of two engines: same tables, columns, row counts and (sorted) rows.

Engines differ in types that carry the same value (DuckDB DECIMAL vs Spark DOUBLE, INTEGER vs
BIGINT, DATE read back as datetime64 vs datetime.date), so every column is normalised to one
comparable form first: numbers to float64, dates and timestamps to naive datetime64, booleans
to nullable booleans, everything else to strings. Rows are then sorted on all columns (floats
rounded for the sort only) and compared column by column, floats within a relative tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

SORT_DIGITS = 6  # floats are rounded to this many decimals for ordering rows only


def read_spark_export(folder: Path) -> dict[str, pd.DataFrame]:
    """mart name -> DataFrame from ``dbt_spark.py --export`` (one Parquet folder per mart)."""
    return {
        path.name: pq.read_table(path).to_pandas()
        for path in sorted(folder.iterdir())
        if path.is_dir()
    }


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """One comparable dtype per column (see module docstring); column order kept."""
    out = {}
    for name, column in frame.items():
        out[name] = _normalise_column(column)
    return pd.DataFrame(out, index=range(len(frame)))


def _normalise_column(column: pd.Series) -> pd.Series:
    column = column.reset_index(drop=True)
    non_null = column.dropna()
    if pd.api.types.is_bool_dtype(column) or (
        len(non_null) and non_null.map(lambda v: isinstance(v, bool | np.bool_)).all()
    ):
        return column.astype("boolean")
    if pd.api.types.is_numeric_dtype(column):
        return pd.to_numeric(column, errors="raise").astype("float64")
    if pd.api.types.is_datetime64_any_dtype(column):
        converted = pd.to_datetime(column)
        if converted.dt.tz is not None:
            converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
        return converted.astype("datetime64[us]")
    if len(non_null) and non_null.map(lambda v: hasattr(v, "year") and hasattr(v, "day")).all():
        return pd.to_datetime(column).astype("datetime64[us]")  # datetime.date objects
    if len(non_null) and non_null.map(lambda v: hasattr(v, "as_tuple")).all():
        return column.astype("float64")  # decimal.Decimal objects
    return (
        column.astype("object")
        .where(column.notna(), None)
        .map(lambda v: v if v is None else str(v))
    )


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order: sorted on every column, nulls first, floats rounded."""
    keys = pd.DataFrame(index=frame.index)
    for name, column in frame.items():
        if column.dtype == "float64":
            keys[name] = column.round(SORT_DIGITS)
        elif column.dtype == "boolean":
            keys[name] = column.astype("Int8")
        else:
            keys[name] = column
    order = keys.sort_values(list(keys.columns), na_position="first", kind="stable").index
    return frame.loc[order].reset_index(drop=True)


@dataclass
class MartDiff:
    """What differs in one mart (empty lists = equal)."""

    name: str
    problems: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.problems


def compare_mart(
    name: str, left: pd.DataFrame, right: pd.DataFrame, rel_tol: float = 1e-6, abs_tol: float = 1e-6
) -> MartDiff:
    """Compare one mart of engine ``left`` with ``right``."""
    diff = MartDiff(name)
    left_cols, right_cols = list(left.columns), list(right.columns)
    if sorted(left_cols) != sorted(right_cols):
        diff.problems.append(f"columns differ: {sorted(set(left_cols) ^ set(right_cols))}")
        return diff
    if len(left) != len(right):
        diff.problems.append(f"row counts differ: {len(left)} vs {len(right)}")
        return diff
    left_n = sort_rows(normalise(left[left_cols]))
    right_n = sort_rows(normalise(right[left_cols]))
    for column in left_cols:
        a, b = left_n[column], right_n[column]
        if a.dtype == "float64" or b.dtype == "float64":
            a, b = a.astype("float64"), b.astype("float64")
            same = np.isclose(a, b, rtol=rel_tol, atol=abs_tol, equal_nan=True)
        else:
            same = (a.isna() & b.isna()) | (a == b).fillna(False)
        bad = np.flatnonzero(~np.asarray(same, dtype=bool))
        if len(bad):
            i = bad[0]
            diff.problems.append(
                f"{column}: {len(bad)} of {len(a)} rows differ, first at sorted row {i}: "
                f"{a.iloc[i]!r} vs {b.iloc[i]!r}"
            )
    return diff


def compare_marts(
    left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]
) -> tuple[list[str], list[MartDiff]]:
    """(marts present in only one engine, per-mart differences of the common ones)."""
    only = sorted(set(left) ^ set(right))
    diffs = [compare_mart(name, left[name], right[name]) for name in sorted(set(left) & set(right))]
    return only, diffs
