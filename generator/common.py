"""Shared pieces of the demo generator: the time window, time zones, formatting, file stats.

Timestamps inside the generator are ``int64`` seconds since the Unix epoch (UTC). Vendor
writers turn them into each vendor's local time and text format.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

WINDOW_START = date(2023, 1, 1)
WINDOW_END = date(2024, 12, 31)
N_DAYS = (WINDOW_END - WINDOW_START).days + 1
SNAPSHOT = datetime(2025, 1, 1, tzinfo=UTC)
T0 = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
T_SNAPSHOT = int(SNAPSHOT.timestamp())
DAY = 86_400
NO_DATE = np.iinfo(np.int64).min  # an unknown date in epoch-second arrays

# Fixed demo FX rates to USD (also used for GA4 purchase_revenue_in_usd).
USD_RATE = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "INR": 0.012}


def day_date(day_index: int) -> date:
    return date.fromordinal(WINDOW_START.toordinal() + day_index)


def months() -> list[tuple[int, int]]:
    """(year, month) of every month of the window, in order."""
    return [(y, m) for y in (2023, 2024) for m in range(1, 13)]


@lru_cache(maxsize=65_536)
def _offset_at_hour(tz: str, hour: int) -> int:
    return int(datetime.fromtimestamp(hour * 3600, ZoneInfo(tz)).utcoffset().total_seconds())


def utc_offsets(ts: np.ndarray, tz: str) -> np.ndarray:
    """UTC offset in seconds of ``tz`` at each epoch second in ``ts`` (exact, DST aware)."""
    ts = np.asarray(ts, dtype=np.int64)
    hours, inverse = np.unique(ts // 3600, return_inverse=True)
    table = np.array([_offset_at_hour(tz, int(h)) for h in hours], dtype=np.int64)
    return table[inverse] if len(ts) else np.zeros(0, dtype=np.int64)


def local_day_start(d: date, tz: str) -> int:
    """Epoch seconds of local midnight of day ``d`` in ``tz``."""
    return int(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).timestamp())


def iso_local(ts: np.ndarray, tz: str, sep: str = " ", seconds: bool = True) -> list[str]:
    """``YYYY-MM-DD HH:MM[:SS]`` in local time of ``tz``, without offset."""
    local = np.asarray(ts, dtype=np.int64) + utc_offsets(ts, tz)
    text = np.datetime_as_string(local.astype("datetime64[s]"), unit="s" if seconds else "m")
    return [s.replace("T", sep) for s in text.tolist()]


def iso_with_offset(ts: np.ndarray, tz: str) -> list[str]:
    """Shopify style ``YYYY-MM-DD HH:MM:SS -0500``."""
    offsets = utc_offsets(ts, tz)
    local = iso_local(ts, tz)
    return [
        f"{s} {_fmt_offset(o, colon=False)}" for s, o in zip(local, offsets.tolist(), strict=False)
    ]


def iso8601(ts: np.ndarray, offsets_min: np.ndarray) -> list[str]:
    """ISO 8601 with the given offsets in minutes; offset 0 is written as ``Z``."""
    ts = np.asarray(ts, dtype=np.int64)
    local = ts + np.asarray(offsets_min, dtype=np.int64) * 60
    text = np.datetime_as_string(local.astype("datetime64[s]"), unit="s").tolist()
    return [
        s + ("Z" if o == 0 else _fmt_offset(o * 60, colon=True))
        for s, o in zip(text, np.asarray(offsets_min).tolist(), strict=False)
    ]


def _fmt_offset(seconds: int, colon: bool) -> str:
    sign = "-" if seconds < 0 else "+"
    h, m = divmod(abs(seconds) // 60, 60)
    return f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"


def us_datetime(ts: np.ndarray, tz: str) -> list[str]:
    """Salesforce en_US ``M/D/YYYY h:mm AM`` in local time of ``tz``."""
    local = (np.asarray(ts, dtype=np.int64) + utc_offsets(ts, tz)).astype("datetime64[s]")
    out = []
    for dt in local.tolist():
        hour12 = dt.hour % 12 or 12
        ampm = "AM" if dt.hour < 12 else "PM"
        out.append(f"{dt.month}/{dt.day}/{dt.year} {hour12}:{dt.minute:02d} {ampm}")
    return out


def us_date(ts: np.ndarray, tz: str) -> list[str]:
    """``M/D/YYYY`` in local time of ``tz``."""
    local = (np.asarray(ts, dtype=np.int64) + utc_offsets(ts, tz)).astype("datetime64[s]")
    return [f"{dt.month}/{dt.day}/{dt.year}" for dt in local.tolist()]


def iso_date(ts: np.ndarray, tz: str = "UTC") -> list[str]:
    local = np.asarray(ts, dtype=np.int64) + (utc_offsets(ts, tz) if tz != "UTC" else 0)
    days = local.astype("datetime64[s]").astype("datetime64[D]")  # epoch seconds → dates
    return np.datetime_as_string(days).tolist()


def money(values: np.ndarray) -> list[str]:
    """Plain decimals with two places (``1234.50``)."""
    return [f"{v:.2f}" for v in np.asarray(values, dtype=float).tolist()]


def blank_where(values: list[str], mask: np.ndarray, blank: str = "") -> list[str]:
    return [blank if m else v for v, m in zip(values, np.asarray(mask).tolist(), strict=False)]


def csv_text(rows, delimiter: str = ",", quote_all: bool = False, crlf: bool = False) -> str:
    """Rows to CSV text with the csv module (deterministic quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=delimiter,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        lineterminator="\r\n" if crlf else "\n",
    )
    writer.writerows(rows)
    return buffer.getvalue()


def interleave(rows: list, extras: list, rng: np.random.Generator) -> list:
    """Insert ``extras`` at random positions of ``rows`` (order of both kept)."""
    if not extras:
        return rows
    positions = np.sort(rng.integers(0, len(rows) + 1, size=len(extras)))
    out, last = [], 0
    for pos, extra in zip(positions.tolist(), extras, strict=False):
        out.extend(rows[last:pos])
        out.append(extra)
        last = pos
    out.extend(rows[last:])
    return out


def uniquify(values: list[str], insert_before: str | None = None) -> list[str]:
    """Make strings unique by appending 2, 3, ... to repeats (before ``insert_before``)."""
    seen: dict[str, int] = {}
    out = []
    for value in values:
        n = seen.get(value, 0) + 1
        seen[value] = n
        if n == 1:
            out.append(value)
        elif insert_before and insert_before in value:
            head, tail = value.split(insert_before, 1)
            out.append(f"{head}{n}{insert_before}{tail}")
        else:
            out.append(f"{value}{n}")
    if len(set(out)) != len(out):  # a generated suffix collided with an original value
        return uniquify(out, insert_before)
    return out


@dataclass
class FileStats:
    """What one written file holds; serialised into ``_expected.json``."""

    path: str
    entity: str
    shape: str
    data_rows: int = 0
    duplicate_rows: int = 0
    bad_reasons: dict[str, int] = field(default_factory=dict)
    summary_rows: int = 0
    late_rows: int = 0
    identical_to: str | None = None

    @property
    def bad_rows(self) -> int:
        return sum(self.bad_reasons.values())

    def add_bad(self, reason: str, n: int = 1) -> None:
        if n:
            self.bad_reasons[reason] = self.bad_reasons.get(reason, 0) + n

    def as_json(self) -> dict:
        return {
            "entity": self.entity,
            "shape": self.shape,
            "data_rows": self.data_rows,
            "duplicate_rows": self.duplicate_rows,
            "bad_rows": self.bad_rows,
            "bad_reasons": dict(sorted(self.bad_reasons.items())),
            "summary_rows": self.summary_rows,
            "late_rows": self.late_rows,
            "identical_to": self.identical_to,
        }


class Output:
    """Writes files under the landing folder and keeps their :class:`FileStats`."""

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, FileStats] = {}

    def path(self, rel: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def stats(self, rel: str, entity: str, shape: str) -> FileStats:
        stats = self.files.get(rel)
        if stats is None:
            stats = self.files[rel] = FileStats(rel, entity, shape)
        return stats
