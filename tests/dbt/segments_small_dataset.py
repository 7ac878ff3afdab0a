"""A small hand-made raw dataset for the segment marts; comments say what each row tests.

As-of date = the latest business date in it: 2024-03-10 (order of k5).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

FIRST = datetime(2024, 4, 1)
LATER = datetime(2024, 4, 2)


def _with(frame: pd.DataFrame, ingested_at: datetime) -> pd.DataFrame:
    return frame.assign(_ingested_at=ingested_at)


def accounts() -> list[pd.DataFrame]:
    first = pd.DataFrame(
        [
            # A1 is re-exported later with 6000 employees: the later ingest wins
            ("A1", "Acme", "https://www.Acme.com/", "Technolgy", 2822, 1.1e9, "USD", "United States",
             "Salesforce; Snowflake;dbt ; Looker", "2024-01-01"),
            ("A2", "City of Springfield", "springfield.gov", "Government", 300, 5e7, "USD", "USA",
             None, "2024-01-01"),
            ("A3", "Tiny Shop", "tinyshop.de", " retail ", 8, 400_000.0, "EUR", "Germany",
             "shopify", "2024-01-01"),
            ("A4", "Ghost", "ghost.io", "IT", 20, None, "USD", "US", None, "2024-01-01"),
        ],
        columns=["account_id", "account_name", "domain", "industry", "employees", "annual_revenue",
                 "currency", "country", "technologies", "updated_at"],
    )  # fmt: skip
    later = pd.DataFrame(
        [
            ("A1", "Acme", "acme.com", "Technolgy", 6000, 1.1e9, "USD", "United States",
             "Salesforce; Snowflake;dbt ; Looker", "2024-02-01", False),
            ("A4", "Ghost", "ghost.io", "IT", 20, None, "USD", "US", None, "2024-02-01", True),
        ],
        columns=["account_id", "account_name", "domain", "industry", "employees", "annual_revenue",
                 "currency", "country", "technologies", "updated_at", "is_deleted"],
    )  # fmt: skip
    return [_with(first, FIRST), _with(later, LATER)]


def contacts() -> pd.DataFrame:
    return _with(
        pd.DataFrame(
            [
                ("C1", "A1", " Bob@Acme.com ", "+1 (555) 010-2000"),  # CRM link to A1
                ("C2", None, "alice@acme.com", None),  # A1 by corporate e-mail domain
                ("C3", None, "jo@gmail.com", "555 0100 99"),  # free mail: no account
                ("C4", "A2", "mayor@springfield.gov", None),
            ],
            columns=["contact_id", "account_id", "email", "phone"],
        ),
        FIRST,
    )


def leads() -> pd.DataFrame:
    return _with(
        pd.DataFrame(
            [
                # decided: its deal O1 closed won; cell of its account A1
                ("L1", "C1", "A1", None, None, None, None, "2023-06-01", "O1"),
                # decided: disqualified; cell of A1
                ("L2", None, "A1", None, None, None, "Disqualified", "2023-07-01", None),
                # decided: its deal O2 closed lost; cell from its own firmographics
                ("L3", None, None, "technolgy", 3500, "USA", None, "2023-08-01", "O2"),
                # not decided: open and only 9 days old at the as-of date
                ("L4", None, "A3", None, None, None, "Open", "2024-03-01", None),
            ],
            columns=[
                "lead_id",
                "contact_id",
                "account_id",
                "industry",
                "employees",
                "country",
                "status",
                "created_at",
                "converted_opportunity_id",
            ],
        ),  # fmt: skip
        FIRST,
    )


def opportunities() -> pd.DataFrame:
    return _with(
        pd.DataFrame(
            [
                ("O1", "A1", "Closed Won", 24000.0, "USD", "2023-06-15", "2023-09-15", 24, 4),
                ("O2", None, "closed_lost", 5000.0, "USD", "2023-08-10", "2023-10-01", None, None),
                # no lead: a closed deal is a propensity trial on its own
                ("O3", "A3", "Won", 900.0, "EUR", "2024-01-10", "2024-01-15", None, 1),
                # open deal with its expected close date far ahead: must not move as-of date
                ("O4", "A2", "Proposal", 100000.0, "USD", "2024-02-01", "2025-06-30", None, 6),
            ],
            columns=[
                "opportunity_id",
                "account_id",
                "stage",
                "amount",
                "currency",
                "created_at",
                "closed_at",
                "contract_months",
                "contacts_involved",
            ],
        ),  # fmt: skip
        FIRST,
    )


ORDER_COLUMNS = ["order_id", "order_line_id", "customer_id", "email", "ordered_at", "net_amount",
                 "cost_amount", "currency", "status", "category", "channel"]  # fmt: skip


def orders() -> list[pd.DataFrame]:
    first = pd.DataFrame(
        [
            ("o1", "1", "k1", None, "2024-01-05 09:00", 60.0, None, "USD", None, "toys", "web"),
            ("o1", "2", "k1", None, "2024-01-05 09:00", 40.0, None, "USD", None, "books", "web"),
            # a purchase with one returned line
            ("o2", "1", "k1", None, "2024-02-10 12:00", 50.0, None, "USD", None, "toys", "app"),
            ("o2", "2", "k1", None, "2024-02-10 12:00", -10.0, None, "USD", None, "toys", "app"),
            ("o3", "1", "k1", None, "2024-03-01 08:00", 30.0, None, "USD", None, "books", "web"),
            # k2 pays in EUR; the e-mail makes k2 the same person as contact C3
            (
                "o4",
                "1",
                "k2",
                "JO@gmail.com",
                "2024-02-15 10:00",
                200.0,
                None,
                "EUR",
                None,
                "toys",
                "web",
            ),
            # cancelled: counts nowhere
            (
                "o5",
                "1",
                "k2",
                None,
                "2024-02-20 10:00",
                80.0,
                None,
                "EUR",
                "Cancelled",
                "toys",
                "web",
            ),
            ("o6", "1", "k3", None, "2023-10-01 10:00", 20.0, None, "USD", None, "books", "store"),
            ("o7", "1", "k3", None, "2024-01-20 10:00", 40.0, None, "USD", None, "books", "store"),
            # a return order: reduces k3's net revenue, is not an order
            ("o8", "1", "k3", None, "2024-02-01 10:00", -15.0, None, "USD", None, "books", "store"),
            # a credit note the export calls "cancelled": money moved back, so it is a
            # return of k3 (net revenue, return rate), not a cancellation
            (
                "o12",
                "1",
                "k3",
                None,
                "2024-02-05 10:00",
                -5.0,
                None,
                "USD",
                "cancelled",
                "books",
                "store",
            ),
            # k4 only returned: not a customer
            ("o9", "1", "k4", None, "2024-02-03 10:00", -25.0, None, "USD", None, "toys", "web"),
            # guest order: revenue facts only
            ("o10", "1", None, None, "2024-02-04 10:00", 70.0, None, "USD", None, "toys", "web"),
            # known cost: gross profit 300 instead of the default margin
            (
                "o11",
                "1",
                "k5",
                None,
                "2024-03-10 18:00",
                500.0,
                200.0,
                "USD",
                None,
                "garden",
                "web",
            ),
        ],
        columns=ORDER_COLUMNS,
    )
    # o1 line 1 corrected in a later export: 65 replaces 60
    later = pd.DataFrame(
        [("o1", "1", "k1", None, "2024-01-05 09:00", 65.0, None, "USD", None, "toys", "web")],
        columns=ORDER_COLUMNS,
    )
    for frame in (first, later):
        frame["is_return"] = frame["net_amount"] < 0
    return [_with(first, FIRST), _with(later, LATER)]


def events() -> pd.DataFrame:
    rows = [
        # p1 (logged in as contact C3): ig paid hit -> Paid Social session ...
        ("e1", "2024-02-01 10:00", "page_view", "p1", "C3", "https://shop.test/pricing?utm_source=IG&utm_medium=paid", None, None),
        # ... internal navigation 20 minutes later stays in it
        ("e2", "2024-02-01 10:20", "page_view", "p1", "C3", "https://shop.test/docs", "https://shop.test/pricing", None),
        # 40 minutes idle: new session, organic search from google.com
        ("e3", "2024-02-01 11:00", "page_view", "p1", None, "https://shop.test/", "https://www.google.com/", None),
        # a gclid hit: campaign change -> new session (Paid Search) with the purchase
        ("e4", "2024-02-01 11:05", "page_view", "p1", None, "https://shop.test/?gclid=abc", None, None),
        ("e5", "2024-02-01 11:06", "purchase", "p1", None, "https://shop.test/checkout", None, 50.0),
        # an anonymous visitor typing the URL: Direct
        ("e6", "2024-02-02 09:00", "page_view", "p2", None, "https://shop.test/", None, None),
    ]  # fmt: skip
    frame = pd.DataFrame(
        rows,
        columns=["event_id", "event_at", "event_name", "user_pseudo_id", "user_id",
                 "page_location", "page_referrer", "revenue"],
    )  # fmt: skip
    frame["currency"] = frame["revenue"].map(lambda v: "EUR" if pd.notna(v) else None)
    return _with(frame, FIRST)


def frames() -> dict:
    return {
        "accounts": accounts(),
        "contacts": contacts(),
        "leads": leads(),
        "opportunities": opportunities(),
        "orders": orders(),
        "events": events(),
    }
