"""Untrusted export text that must stay text wherever segmart renders it (issue 23.5).

Shared by the Data Docs / alert tests (tests/privacy/test_untrusted_text.py) and the HTML
report's test (tests/ops/test_report.py): land :func:`meta_export_with_payloads` and check
that no rendered file carries a payload as markup.
"""

from __future__ import annotations

import csv
import io

PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')

# what a payload must never be in a rendered HTML file: the live markup
LIVE_MARKUP = ("<script>alert(1)", "<img src=x onerror")


def meta_export_with_payloads(start: str = "2024-06-01", end: str = "2024-06-30") -> bytes:
    """A Meta Ads Manager export (UTF-8 BOM, account total first, ``Reporting starts`` /
    ``Reporting ends``, spend in a currency header, no Campaign ID column so the campaign name
    is also the id) whose campaign names are the payloads.

    Each payload campaign reports more link clicks than impressions, which the raw ad-spend
    suite reports (a warning, keyed by campaign id): so the payload reaches Data Docs too.
    """
    header = [
        "Reporting starts",
        "Reporting ends",
        "Campaign name",
        "Campaign delivery",
        "Attribution setting",
        "Results",
        "Result indicator",
        "Reach",
        "Impressions",
        "Cost per results",
        "Amount spent (USD)",
        "Link clicks",
        "Ends",
        "Starts",
    ]
    rows = [(name, 40 + 10 * i, 90 + 10 * i, 12.5 + i) for i, name in enumerate(PAYLOADS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)

    def line(name: str, impressions: int, clicks: int, spend: float, delivery: str) -> list:
        return [start, end, name, delivery, "7-day click or 1-day view", "", "",
                str(int(impressions * 0.7)), str(impressions), "", f"{spend:.2f}", str(clicks),
                "Ongoing", start]  # fmt: skip

    total = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    writer.writerow(line("", *total, ""))  # the account total: empty campaign name
    for row in rows:
        writer.writerow(line(*row, "active"))
    return ("\ufeff" + out.getvalue()).encode("utf-8")
