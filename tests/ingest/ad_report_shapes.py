"""Ad-platform UI downloads in the shapes real ones have (issue 19), written row by row.

Each builder returns the file's text; the expected figures are read back from the file's own
total row by ``total_row_spend`` (plain ``csv``), never from a constant next to the data.

* Google Ads "Campaign report", default download: a title line, a date-range line, no Day
  and no Campaign ID column, ``Campaign type``, quoted thousands, `` --`` for empty,
  ``Currency code``, ``Total: ...`` footers. The "CSV for Excel" variant is UTF-16LE with a
  BOM and tabs. An "All time" report has no range in its title lines.
* Meta Ads Manager export: UTF-8 BOM, ``Reporting starts`` / ``Reporting ends``, the spend
  currency in the header (``Amount spent (INR)``), the account total as first data row (empty
  campaign name), breakdown variants (Age, Gender, Impression device, Region) with one row
  per campaign and breakdown value, and ``No data available.`` for an empty export.
"""

from __future__ import annotations

import csv
import io

GOOGLE_HEADER = [
    "Campaign status",
    "Campaign",
    "Budget",
    "Budget type",
    "Campaign type",
    "Impr.",
    "Interactions",
    "Interaction rate",
    "Avg. cost",
    "Cost",
    "Currency code",
    "Conversions",
    "Cost / conv.",
]

# (status, campaign, budget, type, impressions, interactions, cost, conversions)
GOOGLE_JUNE = [
    ("Enabled", "Brand Search", "50.00", "Search", 25881, 1204, 4838.80, 120.0),
    ("Enabled", "PMax - All products", "100.00", "Performance Max", 112530, 2310, 3001.07, 31.5),
    ("Paused", "YouTube Awareness", "20.00", "Video", 40120, 0, 612.45, 0.0),
    ("Enabled", "Demand Gen Q2", "30.00", "Demand Gen", 9100, 310, 344.10, 2.0),
    ("Enabled", "Display Remarketing", "10.00", "Display", 55000, 98, 203.33, 1.0),
    ("Enabled", "Shopping - Catalog", "25.00", "Shopping", 13002, 402, 703.51, 11.0),
]


def _thousands(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def google_campaign_report(date_range: str, rows=GOOGLE_JUNE, currency: str = "INR") -> str:
    """The default "Campaign report" download (comma CSV, UTF-8), title + range lines."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["Campaign report"])
    w.writerow([date_range])
    w.writerow(GOOGLE_HEADER)
    for status, name, budget, ctype, impr, inter, cost, conv in rows:
        rate = f"{inter / impr:.2%}" if inter else " --"
        avg = f"{cost / inter:.2f}" if inter else " --"
        cpa = _thousands(cost / conv, 2) if conv else " --"
        w.writerow(
            [
                status,
                name,
                budget,
                "Daily",
                ctype,
                _thousands(impr, 0),
                _thousands(inter, 0) if inter else "0",
                rate,
                avg,
                _thousands(cost, 2),
                currency,
                f"{conv:.2f}",
                cpa,
            ]
        )
    impr = sum(r[4] for r in rows)
    inter = sum(r[5] for r in rows)
    cost = round(sum(r[6] for r in rows), 2)
    conv = sum(r[7] for r in rows)
    for label in ("Total: Campaigns", "Total: Account"):
        w.writerow(
            [
                label,
                " --",
                " --",
                " --",
                " --",
                _thousands(impr, 0),
                _thousands(inter, 0),
                f"{inter / impr:.2%}",
                f"{cost / inter:.2f}",
                _thousands(cost, 2),
                currency,
                f"{conv:.2f}",
                _thousands(cost / conv, 2),
            ]
        )
    return out.getvalue()


def as_csv_for_excel(text: str) -> bytes:
    """Google's "CSV for Excel": the same rows, tab-separated, UTF-16LE with a BOM, CRLF."""
    rows = csv.reader(io.StringIO(text))
    tsv = "\r\n".join("\t".join(row) for row in rows) + "\r\n"
    return ("\ufeff" + tsv).encode("utf-16-le")


META_BASE = ["Reporting starts", "Reporting ends", "Campaign name", "Campaign delivery"]
META_METRICS = [
    "Attribution setting",
    "Results",
    "Result indicator",
    "Reach",
    "Impressions",
    "Cost per results",
    "Amount spent (INR)",
    "Link clicks",
    "Ends",
    "Starts",
]

# campaign → (impressions, link clicks, spend) split over breakdown values; the plain report
# is the sum per campaign
META_CAMPAIGNS = {
    "Diwali Prospecting": {
        "18-24": (12000, 140, 1523.55),
        "25-34": (20500, 260, 2870.10),
        "35-44": (8000, 61, 905.00),
        "Unknown": (310, 2, 41.07),
    },
    "Retargeting - Website": {
        "18-24": (3300, 51, 410.20),
        "25-34": (5100, 90, 688.93),
        "35-44": (2900, 33, 377.41),
        "Unknown": (0, 0, 0.0),
    },
}
BREAKDOWN_VALUES = {
    "Age": ["18-24", "25-34", "35-44", "Unknown"],
    "Gender": ["female", "male", "unknown", "unknown"],
    "Impression device": ["android_smartphone", "iphone", "desktop", "ipad"],
    "Region": ["Maharashtra", "Karnataka", "Delhi", "Unknown"],
}


def meta_export(start: str, end: str, breakdown: str | None = None) -> str:
    """A Meta Ads Manager export in INR for one reporting period; ``breakdown`` names the
    breakdown column (Age, Gender, Impression device, Region) or None for the plain report.

    A breakdown keeps each campaign's total and splits it the same way under another label
    (Meta reports the same spend whatever the breakdown); gender/region rows with the same
    label are one row, as Meta writes them.
    """
    header = META_BASE[:3] + ([breakdown] if breakdown else []) + META_BASE[3:] + META_METRICS
    rows = []
    for campaign, parts in META_CAMPAIGNS.items():
        if breakdown is None:
            groups = {None: [v for v in parts.values()]}
        else:
            groups = {}
            for label, value in zip(BREAKDOWN_VALUES[breakdown], parts.values(), strict=True):
                groups.setdefault(label, []).append(value)
        for label, values in groups.items():
            impr = sum(v[0] for v in values)
            clicks = sum(v[1] for v in values)
            spend = round(sum(v[2] for v in values), 2)
            rows.append((campaign, label, impr, clicks, spend))
    total = (
        sum(r[2] for r in rows),
        sum(r[3] for r in rows),
        round(sum(r[4] for r in rows), 2),
    )
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)

    def line(campaign, label, impr, clicks, spend, delivery):
        cells = [start, end, campaign]
        if breakdown:
            cells.append(label or "")
        cells += [delivery, "7-day click or 1-day view", "", "", str(int(impr * 0.7)), str(impr)]
        cells += ["", f"{spend:.2f}", str(clicks) if clicks else "", "Ongoing", "2024-09-20"]
        return cells

    w.writerow(line("", None, *total, ""))  # account total: empty campaign name
    for campaign, label, impr, clicks, spend in rows:
        w.writerow(line(campaign, label, impr, clicks, spend, "active"))
    return "\ufeff" + out.getvalue()


def meta_no_data(start: str, end: str) -> str:
    header = META_BASE + META_METRICS
    return "\ufeff" + ",".join(header) + "\nNo data available.\n"


def _number(cell: str) -> float:
    return float(cell.strip().replace(",", "") or 0)


def total_row_spend(text: str, spend_column: str) -> float:
    """The spend of the file's own total row: Google's ``Total: Account`` footer, Meta's
    account-total first row (empty campaign name). Read with ``csv``, nothing else."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header_at = next(i for i, r in enumerate(rows) if spend_column in r)
    header = rows[header_at]
    col = header.index(spend_column)
    for row in rows[header_at + 1 :]:
        if row and row[0].startswith("Total: Account"):
            return _number(row[col])
        if "Campaign name" in header and row and not row[header.index("Campaign name")]:
            return _number(row[col])
    raise AssertionError("no total row")
