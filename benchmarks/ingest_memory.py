"""Peak memory and throughput of ingesting one large events file.

Writes a flat event CSV (or GA4 BigQuery JSON lines, ``--format jsonl``) of about
``--size-mb`` MB into a temporary home, runs :func:`pipelines.ingest.run_ingest` in a child
process and reports the child's peak RSS (``ru_maxrss``), the time and the row counts.

    .venv/bin/python -m benchmarks.ingest_memory --size-mb 2048
    .venv/bin/python -m benchmarks.ingest_memory --size-mb 200 --format jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "event_id,event_timestamp,event_name,user_pseudo_id,user_id,session_id,page_location,"
    "page_referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,device_category,"
    "country,transaction_id,revenue,currency\n"
)
NAMES = ["page_view", "session_start", "scroll", "view_item", "add_to_cart", "purchase"]
SOURCES = [("google", "cpc"), ("facebook", "paid_social"), ("newsletter", "email"), ("", "")]


def write_csv(path: Path, size_bytes: int, seed: int = 7) -> int:
    """Unique random rows for the first ~16 MB, then that block repeated (fast to write;
    ingestion does not deduplicate, so repeats cost the same as new rows)."""
    rnd = random.Random(seed)
    rows = 0
    block: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        written = len(HEADER)
        base = 1_704_067_200
        while written < size_bytes:
            if len(block) >= 8:
                chunk = block[(rows // 10_000) % len(block)]
                f.write(chunk)
                written += len(chunk)
                rows += 10_000
                continue
            lines = []
            for _ in range(10_000):
                rows += 1
                name = rnd.choice(NAMES)
                src, med = rnd.choice(SOURCES)
                ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + rows * 3))
                purchase = name == "purchase"
                lines.append(
                    f"e{rows},{ts},{name},{rnd.randrange(10**9)}.{rnd.randrange(10**9)},"
                    f"{rnd.randrange(10**6) if rnd.random() < 0.3 else ''},{rows // 7},"
                    f"https://www.example.com/p/{rnd.randrange(500)}?utm_source={src},"
                    f"https://www.google.com/,{src},{med},spring_sale_{rnd.randrange(20)},"
                    f"ad_{rnd.randrange(9)},,{rnd.choice(['desktop', 'mobile'])},Germany,"
                    f"{'T' + str(rows) if purchase else ''},"
                    f"{round(rnd.uniform(5, 300), 2) if purchase else ''},EUR\n"
                )
            chunk = "".join(lines)
            block.append(chunk)
            f.write(chunk)
            written += len(chunk)
    return rows


def write_jsonl(path: Path, size_bytes: int, seed: int = 7) -> int:
    rnd = random.Random(seed)
    rows = written = 0
    with path.open("w", encoding="utf-8") as f:
        while written < size_bytes:
            lines = []
            for _ in range(5_000):
                rows += 1
                event = {
                    "event_date": "20240301",
                    "event_timestamp": str(1_709_251_200_000_000 + rows * 1_000_000),
                    "event_name": rnd.choice(NAMES),
                    "user_pseudo_id": f"{rnd.randrange(10**9)}.{rnd.randrange(10**9)}",
                    "event_params": [
                        {"key": "ga_session_id", "value": {"int_value": str(rows // 7)}},
                        {
                            "key": "page_location",
                            "value": {"string_value": "https://www.example.com/?utm_source=fb"},
                        },
                    ],
                    "device": {"category": "mobile"},
                    "geo": {"country": "Germany"},
                }
                lines.append(json.dumps(event) + "\n")
            chunk = "".join(lines)
            f.write(chunk)
            written += len(chunk)
    return rows


def child(home: str) -> None:
    from pipelines.ingest import run_ingest

    t0 = time.perf_counter()
    report = run_ingest(home)
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    f = report.files[0]
    print(
        json.dumps(
            {
                "status": f.status,
                "reason": f.reason,
                "rows_read": f.rows_read,
                "rows_loaded": f.rows_loaded,
                "rows_quarantined": f.rows_quarantined,
                "seconds": round(elapsed, 1),
                "peak_rss_mb": round(peak_mb),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=200)
    ap.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(prefix="segmart-bench-") as tmp:
        landing = Path(tmp) / "landing"
        landing.mkdir()
        target = landing / f"events.{args.format}"
        writer = write_csv if args.format == "csv" else write_jsonl
        rows = writer(target, int(args.size_mb * 1024 * 1024))
        size_mb = target.stat().st_size / 1024 / 1024
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.ingest_memory", "--child", tmp],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result.update({"file_mb": round(size_mb), "rows_generated": rows})
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
