"""Pure helpers of the harness: ratios, the result document's schema, the Markdown table."""

from __future__ import annotations

import json
from pathlib import Path

# key → type(s) a value may have; None marks a measurement that was not taken
REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "scale": (float, int),
    "seed": (int,),
    "pipeline_s": (float, int, type(None)),
    "floor_s": (float, int, type(None)),
    "pandas_s": (float, int, type(None)),
    "checks_off_s": (float, int, type(None)),
    "overhead_s": (float, int, type(None)),
    "incremental_s": (float, int, type(None)),
    "peak_rss_mb": (dict,),
    "spill_mb": (dict,),
    "rows": (int,),
    "rows_per_s": (dict,),
    "ratios": (dict,),
    "cores": (int,),
    "memory_gb": (float, int),
    "commit": (str,),
    "phases": (dict,),
    "agreement": (dict,),
    "goals": (dict,),
    "notes": (list,),
}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 2 places; None when either is missing or 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def ratios(timings: dict[str, float | None]) -> dict[str, float | None]:
    """The issue's ratios: pipeline over floor (a/b), over pandas (a/c), over checks off (a/d);
    pipeline over the replay floor (a/r: what orchestration adds to the project's own SQL)
    and the replay floor over the hand-written floor (r/b: what the models' SQL costs)."""
    a, r = timings.get("pipeline_s"), timings.get("replay_s")
    return {
        "a_over_b": ratio(a, timings.get("floor_s")),
        "a_over_r": ratio(a, r),
        "r_over_b": ratio(r, timings.get("floor_s")),
        "a_over_c": ratio(a, timings.get("pandas_s")),
        "a_over_d": ratio(a, timings.get("checks_off_s")),
        "incremental_over_a": ratio(timings.get("incremental_s"), a),
    }


def rows_per_s(rows: int, timings: dict[str, float | None]) -> dict[str, float | None]:
    """Landing data rows processed per second by each full implementation."""
    keys = ("pipeline_s", "floor_s", "replay_s", "pandas_s", "checks_off_s")
    return {
        k.removesuffix("_s"): (round(rows / timings[k]) if timings.get(k) else None) for k in keys
    }


def goals(result: dict) -> dict[str, dict]:
    """The issue's goals (scale 10 on 2 cores), evaluated on this result: met, and by how much.

    * pipeline ≤ 1.5 × floor + 60 s of fixed overhead;
    * peak memory of the pipeline < 4 GB;
    * an incremental run of one new day ≤ 15% of the full run (issue 21.2);
    issue 20.6 (scale 10; the seconds goal only evaluated there):
    * pipeline ≤ 1.5 × the replay floor + 60 s, and ≤ 450 s;
    * pipeline ≥ 2.5× faster than pandas;
    * the replay floor within 5× of the hand-written floor.
    """
    out: dict[str, dict] = {}
    a, b = result.get("pipeline_s"), result.get("floor_s")
    r, c = result.get("replay_s"), result.get("pandas_s")
    if a is not None and b is not None:
        limit = 1.5 * b + 60
        out["pipeline_within_1.5x_floor_plus_60s"] = {
            "limit_s": round(limit, 1),
            "actual_s": round(a, 1),
            "met": a <= limit,
        }
    if a is not None and r is not None:
        limit = 1.5 * r + 60
        out["pipeline_within_1.5x_replay_plus_60s"] = {
            "limit_s": round(limit, 1),
            "actual_s": round(a, 1),
            "met": a <= limit,
        }
    if a is not None and float(result.get("scale", 0)) == 10:
        out["pipeline_at_most_450s"] = {"limit_s": 450, "actual_s": round(a, 1), "met": a <= 450}
    if a is not None and c:
        out["pipeline_2.5x_faster_than_pandas"] = {
            "limit_s": round(c / 2.5, 1),
            "actual_s": round(a, 1),
            "met": a <= c / 2.5,
        }
    if r is not None and b:
        out["replay_within_5x_floor"] = {
            "limit_s": round(5 * b, 1),
            "actual_s": round(r, 1),
            "met": r <= 5 * b,
        }
    rss = (result.get("peak_rss_mb") or {}).get("pipeline")
    if rss is not None:
        out["peak_memory_under_4gb"] = {
            "limit_mb": 4096,
            "actual_mb": round(rss),
            "met": rss < 4096,
        }
    inc = result.get("incremental_s")
    if inc is not None and a:
        out["incremental_at_most_15pct"] = {
            "limit_s": round(0.15 * a, 1),
            "actual_s": round(inc, 1),
            "met": inc <= 0.15 * a,
        }
    return out


def validate(result: dict) -> list[str]:
    """Problems with a result document (empty when it has every required key, typed)."""
    problems = []
    for key, types in REQUIRED_KEYS.items():
        if key not in result:
            problems.append(f"missing key {key!r}")
        elif not isinstance(result[key], types) or isinstance(result[key], bool):
            problems.append(f"{key!r} has type {type(result[key]).__name__}")
    agreement = result.get("agreement")
    if isinstance(agreement, dict) and not {"ok", "metrics"} <= set(agreement):
        problems.append("agreement lacks 'ok' or 'metrics'")
    return problems


def latest_per_scale(results_dir: Path) -> list[dict]:
    """The newest result document of each scale in ``results_dir``, by ascending scale."""
    newest: dict[float, dict] = {}
    for path in sorted(results_dir.glob("*.json")):  # names start with a sortable timestamp
        doc = json.loads(path.read_text())
        if not validate(doc):
            newest[float(doc["scale"])] = doc | {"_file": path.name}
    return [newest[s] for s in sorted(newest)]


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value}{unit}"


def markdown(docs: list[dict]) -> str:
    """The Markdown summary of result documents (one column per scale)."""
    if not docs:
        return "No benchmark results yet: run `make bench`.\n"
    header = "| | " + " | ".join(f"scale {d['scale']:g}" for d in docs) + " |"
    rule = "|---|" + "---:|" * len(docs)

    def row(label: str, get) -> str:
        return f"| {label} | " + " | ".join(_fmt(get(d)) for d in docs) + " |"

    lines = [
        header,
        rule,
        row("landing data rows", lambda d: d["rows"]),
        row("(a) pipeline, s", lambda d: d["pipeline_s"]),
        row("(b) floor (DuckDB SQL), s", lambda d: d["floor_s"]),
        row("(r) replay floor (compiled dbt SQL), s", lambda d: d.get("replay_s")),
        row("(c) pandas, s", lambda d: d["pandas_s"]),
        row("(d) pipeline, checks off, s", lambda d: d["checks_off_s"]),
        row("(e) incremental, one new day, s", lambda d: d["incremental_s"]),
        row("fixed overhead (nothing new: skipped), s", lambda d: d["overhead_s"]),
        row("nothing new, --force, s", lambda d: d.get("overhead_forced_s")),
        row("a/b", lambda d: d["ratios"].get("a_over_b")),
        row("a/r (orchestration)", lambda d: d["ratios"].get("a_over_r")),
        row("r/b (models' SQL)", lambda d: d["ratios"].get("r_over_b")),
        row("a/c", lambda d: d["ratios"].get("a_over_c")),
        row("a/d", lambda d: d["ratios"].get("a_over_d")),
        row("incremental / a", lambda d: d["ratios"].get("incremental_over_a")),
        row("pipeline rows/s", lambda d: d["rows_per_s"].get("pipeline")),
        row("floor rows/s", lambda d: d["rows_per_s"].get("floor")),
        row("pandas rows/s", lambda d: d["rows_per_s"].get("pandas")),
        row("peak RSS pipeline, MB", lambda d: d["peak_rss_mb"].get("pipeline")),
        row("peak RSS floor, MB", lambda d: d["peak_rss_mb"].get("floor")),
        row("peak RSS replay, MB", lambda d: d["peak_rss_mb"].get("replay")),
        row("peak RSS pandas, MB", lambda d: d["peak_rss_mb"].get("pandas")),
        row("DuckDB spill pipeline, MB", lambda d: d["spill_mb"].get("pipeline")),
        row("DuckDB spill floor, MB", lambda d: d["spill_mb"].get("floor")),
        row("DuckDB spill replay, MB", lambda d: d["spill_mb"].get("replay")),
    ]
    for phase in ("startup", "ingest", "raw_checks", "dbt", "mart_checks", "publish", "other"):
        lines.append(
            row(f"phase {phase}, s", lambda d, p=phase: d["phases"].get("full", {}).get(p))
        )
    lines.append(
        row("a, b, c (and r) agree", lambda d: "yes" if d["agreement"].get("ok") else "**no**")
    )
    lines.append(row("commit", lambda d: d["commit"]))
    lines.append(row("machine", lambda d: f"{d['cores']} cores, {d['memory_gb']:g} GB"))
    lines.append(row("load avg at start", lambda d: d.get("load_avg_start")))
    out = "\n".join(lines) + "\n"
    notes = [f"* scale {d['scale']:g}: {n}" for d in docs for n in d.get("notes", [])]
    failed = [
        f"* scale {d['scale']:g}: `{name}` {m}"
        for d in docs
        for name, m in d["agreement"].get("metrics", {}).items()
        if not m.get("ok")
    ]
    if failed:
        out += "\nDisagreements:\n\n" + "\n".join(failed) + "\n"
    if notes:
        out += "\nNotes:\n\n" + "\n".join(notes) + "\n"
    return out
