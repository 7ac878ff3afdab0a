"""``segmart mappings new FILE``: a draft mapping YAML from a file's header and values.

The draft is a starting point the user finishes, not a guess loaded behind their back:

* **entity** — the canonical entity most of the header's columns belong to, where a column
  "belongs" when its name is a canonical column's name or a vendor name that a shipped mapping
  already maps onto that column (the shipped mappings are the synonym table). ``--entity``
  overrides the guess.
* **columns** — each canonical column of the entity with the header column found for it;
  date and timestamp columns get the ``format`` that parses every sampled value (day-first
  or month-first decided by the values; when they cannot tell, the draft says so).
* **match** — the file name with its digits as ``*`` and the header columns of the required
  canonical columns; a required column with no source is left as a commented TODO line.

Written with ``# TODO`` comments where a person must decide, and valid as written (so
``segmart mappings validate`` passes on it once the entity is right).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from pipelines.core.contract import Entity, entities, entity
from pipelines.ingest.mapping import load_mapping_set, norm
from pipelines.ingest.readers import ROW_COLUMN, ReaderOptions, SourceFile

SAMPLE_ROWS = 1000
# Candidate formats, most specific first; a format is kept when it parses every sampled value.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y%m%d",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%d/%m/%y",
    "%m/%d/%y",
    "%Y-%m",
    "%Y",
)
TIME_PARTS = ("%H:%M:%S", "%H:%M", "%I:%M %p", "%I:%M:%S %p", "%H:%M:%S.%f")
SEPARATORS = (" ", "T")
# A few names no shipped mapping uses yet, beside the canonical names themselves.
EXTRA_NAMES = {
    "order_id": ["order number", "order no", "invoice number", "invoice no"],
    "ordered_at": ["order date", "invoice date", "purchase date"],
    "customer_id": ["customer number", "customer no", "client id"],
    "net_amount": ["order total", "total", "amount"],
    "quantity": ["qty"],
    "email": ["e-mail", "email address", "customer email"],
    "spend_date": ["day", "date"],
    "spend": ["cost", "amount spent"],
}


@dataclass
class Draft:
    """The draft and what it is based on (shown by the CLI)."""

    file: str
    entity: str
    entity_scores: dict[str, int] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # canonical → header column
    formats: dict[str, list[str]] = field(default_factory=dict)
    ambiguous_dates: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    yaml_text: str = ""


def _synonyms(home: Path | None) -> dict[str, dict[str, set[str]]]:
    """{entity: {canonical column: normalised vendor names}} from every valid mapping."""
    out: dict[str, dict[str, set[str]]] = {
        e.name: {c: {norm(c)} for c in e.column_names} for e in entities().values()
    }
    for m in load_mapping_set(home).mappings.values():
        for col, spec in m.columns.items():
            out[m.entity_name][col].update(norm(s) for s in spec.sources)
    for ent in out.values():
        for col, names in EXTRA_NAMES.items():
            if col in ent:
                ent[col].update(norm(n) for n in names)
    return out


def _assign(ent: Entity, header: list[str], names: dict[str, set[str]]) -> dict[str, str]:
    """Canonical column → header column: exact canonical names first, then vendor names."""
    by_norm = {}
    for h in header:
        by_norm.setdefault(norm(h), h)
    taken: set[str] = set()
    out: dict[str, str] = {}
    for exact in (True, False):
        for col in ent.column_names:
            if col in out:
                continue
            wanted = [norm(col)] if exact else sorted(names.get(col, ()))
            for n in wanted:
                h = by_norm.get(n)
                if h is not None and h not in taken:
                    out[col] = h
                    taken.add(h)
                    break
    return {c: out[c] for c in ent.column_names if c in out}


def _parses(values: list[str], fmt: str) -> bool:
    for v in values:
        try:
            datetime.strptime(v, fmt)
        except ValueError:
            return False
    return True


def sniff_formats(values: list[str], with_time: bool) -> tuple[list[str], str]:
    """(formats that parse every value, a note when day/month order is undecided)."""
    values = [v.strip() for v in values if v and v.strip()]
    if not values:
        return [], ""
    candidates = list(DATE_FORMATS)
    if with_time or any(":" in v for v in values):
        timed = [f"{d}{s}{t}" for d in DATE_FORMATS for s in SEPARATORS for t in TIME_PARTS]
        candidates = timed + candidates
    # values of one column may mix a date-only and a timed form: keep the fewest formats
    # that together parse every value, most values first
    chosen: list[str] = []
    left = values
    while left:
        best, hits = None, 0
        for fmt in candidates:
            n = sum(1 for v in left if _parses([v], fmt))
            if n > hits:
                best, hits = fmt, n
        if best is None:
            return [], f"no known format parses e.g. {left[0]!r}"
        chosen.append(best)
        left = [v for v in left if not _parses([v], best)]
    note = ""
    for fmt in chosen:
        swapped = _swap_day_month(fmt)
        if fmt.startswith("%Y"):  # year-first dates are year-month-day everywhere
            continue
        if swapped and swapped != fmt and _parses(values, swapped):
            note = (
                f"day/month order undecided: {fmt!r} and {swapped!r} both parse every value "
                "sampled; keep the one the export uses"
            )
    return chosen, note


def _swap_day_month(fmt: str) -> str | None:
    if "%d" in fmt and "%m" in fmt:
        return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    return None


def draft_file_name(file: Path | str) -> str:
    """``<file stem>.yaml`` with only safe characters."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(file).name.split(".")[0]).strip("_")
    return f"{stem or 'export'}.yaml"


def _glob(name: str) -> str:
    """The file name with dates and counters as ``*``: ``*online_retail_ii*.parquet``."""
    stem, dot, ext = Path(name).name.lower().partition(".")
    pattern = re.sub(r"\d+", "*", stem)
    pattern = re.sub(r"[*\W_]*\*[*\W_]*", "*", pattern).strip("*")  # digits and separators
    if not pattern:
        return f"*.{ext}" if dot else "*"
    return f"*{pattern}*.{ext}" if dot else f"*{pattern}*"


def draft_mapping(
    path: Path | str, home: Path | None = None, entity_name: str | None = None
) -> Draft:
    """A draft mapping for ``path`` (see the module docstring)."""
    path = Path(path)
    source = SourceFile(path, ReaderOptions())
    header = [h for h in source.header if h != ROW_COLUMN]
    sample: dict[str, list[str]] = {h: [] for h in header}
    for chunk in source.chunks():
        rows = chunk.table.slice(0, SAMPLE_ROWS).to_pydict()
        for h in header:
            sample[h] += [v for v in rows.get(h, []) if v is not None]
        break
    names = _synonyms(home)
    scores = {e.name: len(_assign(e, header, names[e.name])) for e in entities().values()}
    chosen = entity(entity_name) if entity_name else entity(max(scores, key=scores.get))
    columns = _assign(chosen, header, names[chosen.name])
    draft = Draft(file=str(path), entity=chosen.name, entity_scores=scores, columns=columns)
    types = {c.name: c.type for c in chosen.columns}
    for col, h in columns.items():
        if types[col] in ("date", "timestamp"):
            fmts, note = sniff_formats(sample[h], types[col] == "timestamp")
            if fmts:
                draft.formats[col] = fmts
            if note:
                draft.ambiguous_dates[col] = note
    draft.unmapped = [h for h in header if h not in columns.values()]
    draft.missing_required = [
        c.name for c in chosen.columns if c.required and c.name not in columns
    ]
    draft.yaml_text = _render(draft, chosen, path, scores)
    return draft


def _q(value) -> str:
    """A YAML scalar (quoted when needed)."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def _render(draft: Draft, ent: Entity, path: Path, scores: dict[str, int]) -> str:
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    others = ", ".join(f"{n} ({s})" for n, s in ranked[1:4] if s)
    stem = re.sub(r"[^a-z0-9]+", "_", path.name.lower().split(".")[0]).strip("_") or "export"
    required = [c.name for c in ent.columns if c.required]
    match_cols = [draft.columns[c] for c in required if c in draft.columns]
    if not match_cols:
        match_cols = list(draft.columns.values())[:3]
    lines = [
        f"# Draft mapping written by `segmart mappings new` from {path.name}.",
        "# Finish the TODOs, check it with `segmart mappings validate` and",
        "# `segmart mappings check FILE --mapping THIS.yaml`, then move it into {home}/mappings/.",
        f"name: {_q('user_' + stem)}",
        f"entity: {ent.name}  # TODO confirm: guessed from {scores[ent.name]} header columns"
        + (f"; next: {others}" if others else ""),
        f"source_system: {_q(stem)}  # TODO: the system that exported the file",
        "match:",
        f"  filename: [{_q(_glob(path.name))}]",
        f"  columns: [{', '.join(_q(c) for c in match_cols)}]",
        "columns:",
    ]
    for col in ent.column_names:
        if col in draft.columns:
            spec = {"from": draft.columns[col]}
            fmts = draft.formats.get(col)
            if fmts:
                spec["format"] = fmts[0] if len(fmts) == 1 else fmts
            line = f"  {col}: " + (
                _q(spec["from"])
                if len(spec) == 1
                else "{" + ", ".join(f"{k}: {_q(v)}" for k, v in spec.items()) + "}"
            )
            note = draft.ambiguous_dates.get(col)
            lines.append(line + (f"  # TODO {note}" if note else ""))
        elif col in draft.missing_required:
            lines.append(f"  # {col}: ???  # TODO required: name the column that holds it")
    if draft.unmapped:
        lines.append("# Header columns not mapped (kept as JSON in _extra; list the ones you do")
        lines.append("# not want under ignore_columns):")
        lines.append(f"#   {', '.join(draft.unmapped)}")
    return "\n".join(lines) + "\n"
