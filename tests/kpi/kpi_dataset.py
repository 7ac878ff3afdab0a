"""A small hand-made raw dataset for the KPI marts (B2C shop, B2B deals, web, ad spend).

Every KPI the tests check is worked out from these frames with plain pandas. The comments
say which behaviour each row exercises. All times are UTC; one page view = one session
(sessions are days apart), so the session channel is the channel of that hit.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

INGESTED_FIRST = datetime(2024, 4, 1)
INGESTED_LATER = datetime(2024, 4, 2)

# utm / referrer of each test session -> the GA4 default channel group the seeds give it
CHANNEL_OF_TRAFFIC = {
    ("google", "cpc"): "Paid Search",
    ("fb", "paid_social"): "Paid Social",
    ("facebook", "paid_social"): "Paid Social",
    ("linkedin", "paid_social"): "Paid Social",
    ("google.com", "(referral)"): "Organic Search",
    (None, None): "Direct",
}
# ad platform -> channel group of its spend (seed ad_platform_channels)
CHANNEL_OF_PLATFORM = {
    "google_ads": "Paid Search",
    "meta_ads": "Paid Social",
    "linkedin_ads": "Paid Social",
}


def ad_spend_files() -> list[pd.DataFrame]:
    """Two landed files; the second re-reports Jan 20 of Brand Search (latest ingest wins)."""
    first = pd.DataFrame(
        [
            ("2024-01-05", "google_ads", "G1", "111", "Brand Search", 1000, 50, 100.0, "USD"),
            ("2024-01-20", "google_ads", "G1", "111", "Brand Search", 2000, 80, 200.0, "USD"),
            ("2024-02-10", "google_ads", "G1", "111", "Brand Search", 1500, 60, 150.0, "USD"),
            ("2024-01-10", "meta_ads", "M1", "222", "Spring Promo", 5000, 100, 300.0, "EUR"),
            ("2024-02-15", "meta_ads", "M1", "222", "Spring Promo", 2000, 40, 100.0, "EUR"),
            ("2024-01-15", "linkedin_ads", "L1", "333", "ABM Q1", 800, 20, 500.0, "GBP"),
            ("2024-03-01", "linkedin_ads", "L1", "333", "ABM Q1", 400, 10, 250.0, "GBP"),
        ],
        columns=[
            "spend_date",
            "platform",
            "ad_account_id",
            "campaign_id",
            "campaign_name",
            "impressions",
            "clicks",
            "spend",
            "currency",
        ],
    )
    first["platform_conversions"] = 99.0  # self-reported: must never reach a revenue KPI
    first["platform_conversion_value"] = 99999.0
    first["_ingested_at"] = INGESTED_FIRST
    restated = first.iloc[[1]].copy()
    restated["spend"] = 210.0
    restated["_ingested_at"] = INGESTED_LATER
    return [first, restated]


def _session(person: str, at: str, source=None, medium=None, campaign=None, **extra) -> dict:
    """One page view = one session of a logged-in user (user_id = customer / contact id)."""
    row = {
        "event_id": f"{person}-{at}",
        "event_at": at,
        "event_name": "page_view",
        "user_pseudo_id": f"device-{person}",
        "user_id": person,
        "page_location": "https://shop.example.com/",
        "utm_source": source if medium != "(referral)" else None,
        "utm_medium": medium if medium != "(referral)" else None,
        "utm_campaign": campaign,
    }
    if medium == "(referral)":
        row["page_referrer"] = f"https://www.{source}/search"
    row.update(extra)
    return row


# (person, session start, utm_source, utm_medium, utm_campaign) — referral rows carry the
# referrer host as source and "(referral)" as medium
SESSIONS = [
    ("C1", "2024-01-04 09:00:00", "google", "cpc", "brand search"),
    ("C1", "2024-01-05 10:00:00", None, None, None),
    ("C1", "2024-02-20 18:00:00", "facebook", "paid_social", "spring promo"),
    ("C2", "2024-01-10 12:00:00", "fb", "paid_social", "222"),
    ("C5", "2024-01-22 08:00:00", "google.com", "(referral)", None),
    ("C5", "2024-01-25 08:00:00", None, None, None),
    ("K1", "2024-01-07 15:00:00", "linkedin", "paid_social", "abm q1"),
    ("K1", "2024-03-05 15:00:00", None, None, None),
    ("K2", "2024-03-08 11:00:00", "google.com", "(referral)", None),
]


# purchase events (inside an existing session): sessions -> purchase conversion rate
PURCHASES = [("C1", "2024-01-05 10:10:00", "O-1001", 100.0)]


def events() -> pd.DataFrame:
    rows = [_session(*s) for s in SESSIONS]
    for person, at, transaction_id, revenue in PURCHASES:
        row = _session(person, at)
        row.update(event_name="purchase", transaction_id=transaction_id, revenue=revenue)
        row["currency"] = "USD"
        rows.append(row)
    return pd.DataFrame(rows)


def orders() -> pd.DataFrame:
    """B2C order lines. Net amounts exclude tax; returns are negative lines."""
    cols = [
        "order_id",
        "order_line_id",
        "customer_id",
        "email",
        "ordered_at",
        "quantity",
        "unit_price",
        "net_amount",
        "cost_amount",
        "currency",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "is_return",
    ]
    rows = [
        # C1: first purchase after a paid-search then a direct session (last non-direct =
        # Paid Search), second purchase after a Meta session
        (
            "O-1001",
            "1",
            "C1",
            "c1@gmail.com",
            "2024-01-05 10:10:00",
            1,
            100.0,
            100.0,
            40.0,
            "USD",
            None,
            None,
            None,
            False,
        ),
        (
            "O-1002",
            "1",
            "C1",
            "c1@gmail.com",
            "2024-02-20 18:20:00",
            1,
            50.0,
            50.0,
            20.0,
            "USD",
            None,
            None,
            None,
            False,
        ),
        # C2: EUR orders, no cost (default margin); the second one has no touch in the window
        (
            "O-2001",
            "1",
            "C2",
            "c2@yahoo.com",
            "2024-01-12 09:00:00",
            2,
            100.0,
            200.0,
            None,
            "EUR",
            None,
            None,
            None,
            False,
        ),
        (
            "O-2002",
            "1",
            "C2",
            "c2@yahoo.com",
            "2024-03-15 09:00:00",
            1,
            80.0,
            80.0,
            None,
            "EUR",
            None,
            None,
            None,
            False,
        ),
        # C3: no web visit, but the order carries UTM tags with the numeric campaign id
        (
            "O-3001",
            "1",
            "C3",
            "c3@outlook.com",
            "2024-02-02 14:00:00",
            1,
            120.0,
            120.0,
            50.0,
            "USD",
            "google",
            "cpc",
            "111",
            False,
        ),
        (
            "O-3002",
            "1",
            "C3",
            "c3@outlook.com",
            "2024-02-10 14:00:00",
            -1,
            30.0,
            -30.0,
            -12.0,
            "USD",
            None,
            None,
            None,
            True,
        ),
        # C4: guest order, no customer id or e-mail: revenue counts, no customer
        (
            "O-4001",
            "1",
            None,
            None,
            "2024-03-03 16:00:00",
            1,
            60.0,
            60.0,
            25.0,
            "USD",
            None,
            None,
            None,
            False,
        ),
        # C5: an order with a returned line inside it
        (
            "O-5001",
            "1",
            "C5",
            "c5@gmail.com",
            "2024-01-25 08:30:00",
            1,
            100.0,
            100.0,
            35.0,
            "USD",
            None,
            None,
            None,
            False,
        ),
        (
            "O-5001",
            "2",
            "C5",
            "c5@gmail.com",
            "2024-01-25 08:30:00",
            -1,
            20.0,
            -20.0,
            -5.0,
            "USD",
            None,
            None,
            None,
            True,
        ),
    ]
    frame = pd.DataFrame(rows, columns=cols)
    frame["channel"] = "web"
    return frame


def accounts() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("A1", "Acme Corp", "acme.com", "Technology", 500, 5e7, "USD", "US"),
            ("A2", "Globex", "globex.com", "Manufacturing", 2000, 3e8, "USD", "DE"),
        ],
        columns=[
            "account_id",
            "account_name",
            "domain",
            "industry",
            "employees",
            "annual_revenue",
            "currency",
            "country",
        ],
    ).assign(customer_type="B2B", created_at="2022-06-01")


def contacts() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("K1", "A1", "jane@acme.com", "Jane", "CMO"),
            ("K2", "A1", "bob@acme.com", "Bob", "Analyst"),
            ("K3", "A2", "ann@globex.com", "Ann", "VP Sales"),
        ],
        columns=["contact_id", "account_id", "email", "first_name", "job_title"],
    ).assign(created_at="2023-01-01")


def leads() -> pd.DataFrame:
    cols = [
        "lead_id",
        "contact_id",
        "account_id",
        "email",
        "lead_type",
        "lead_source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "created_at",
        "mql_at",
        "sql_at",
        "converted_at",
        "converted_opportunity_id",
    ]
    rows = [
        (
            "L1",
            "K1",
            "A1",
            "jane@acme.com",
            "demo_request",
            None,
            "linkedin",
            "paid_social",
            "abm q1",
            "2024-01-08 10:00:00",
            "2024-01-10",
            "2024-01-15",
            "2024-01-20",
            "OP1",
        ),
        (
            "L2",
            "K3",
            "A2",
            "ann@globex.com",
            "form_fill",
            None,
            "google",
            "cpc",
            "brand search",
            "2024-01-16 10:00:00",
            "2024-01-18",
            None,
            "2024-01-25",
            "OP2",
        ),
        (
            "L3",
            None,
            None,
            "x@hotmail.com",
            "download",
            None,
            None,
            None,
            None,
            "2024-02-05 10:00:00",
            None,
            None,
            None,
            None,
        ),
        (
            "L4",
            "K2",
            "A1",
            "bob@acme.com",
            "webinar",
            None,
            None,
            None,
            None,
            "2024-03-02 10:00:00",
            "2024-03-05",
            None,
            None,
            None,
        ),
    ]
    return pd.DataFrame(rows, columns=cols)


def opportunities() -> pd.DataFrame:
    cols = [
        "opportunity_id",
        "account_id",
        "contact_id",
        "stage",
        "is_closed",
        "is_won",
        "amount",
        "currency",
        "deal_type",
        "contract_months",
        "renewal_of_opportunity_id",
        "created_at",
        "closed_at",
        "contract_start_date",
        "contract_end_date",
    ]
    rows = [
        # A1's first deal (2023): a one-year contract that comes up for renewal in 2024
        (
            "OP0",
            "A1",
            "K1",
            "Closed Won",
            True,
            True,
            5000.0,
            "USD",
            "New Business",
            12,
            None,
            "2022-12-01 09:00:00",
            "2023-02-15 09:00:00",
            "2023-03-01",
            "2024-02-29",
        ),
        # renewal of OP0, in EUR
        (
            "OP3",
            "A1",
            "K1",
            "Closed Won",
            True,
            True,
            6000.0,
            "EUR",
            "Renewal",
            12,
            "OP0",
            "2024-02-01 09:00:00",
            "2024-02-20 09:00:00",
            "2024-03-01",
            "2025-02-28",
        ),
        # a two-year expansion deal from lead L1: ACV = TCV / 2
        (
            "OP1",
            "A1",
            "K1",
            "Closed Won",
            True,
            True,
            24000.0,
            "USD",
            "Upsell",
            24,
            None,
            "2024-01-20 09:00:00",
            "2024-03-10 09:00:00",
            "2024-04-01",
            "2026-03-31",
        ),
        (
            "OP2",
            "A2",
            "K3",
            "Closed Lost",
            True,
            False,
            10000.0,
            "USD",
            "New Business",
            12,
            None,
            "2024-01-25 09:00:00",
            "2024-02-28 09:00:00",
            None,
            None,
        ),
        (
            "OP4",
            "A2",
            "K3",
            "Proposal",
            False,
            False,
            8000.0,
            "USD",
            "New Business",
            12,
            None,
            "2024-03-01 09:00:00",
            None,
            None,
            None,
        ),
        # a service deal won by A2: A2's first won deal = a new B2B customer in March
        (
            "OP5",
            "A2",
            "K3",
            "Closed Won",
            True,
            True,
            3000.0,
            "USD",
            "Professional Services",
            6,
            None,
            "2024-03-02 09:00:00",
            "2024-03-20 09:00:00",
            "2024-04-01",
            "2024-09-30",
        ),
    ]
    return pd.DataFrame(rows, columns=cols)


def nps_responses() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("N1", "K1", None, "A1", 10, "2024-03-12 10:00:00"),
            ("N2", "K2", None, "A1", 6, "2024-03-12 11:00:00"),
            ("N3", None, "C1", None, 9, "2024-02-25 10:00:00"),
            ("N4", None, "C2", None, 7, "2024-03-20 10:00:00"),
            ("N5", None, "C3", None, 3, "2024-02-12 10:00:00"),
        ],
        columns=["response_id", "contact_id", "customer_id", "account_id", "score", "responded_at"],
    )


def raw_frames() -> dict[str, pd.DataFrame | list[pd.DataFrame]]:
    """entity -> frame(s), ready for tests.dbt.raw_builder.write_raw."""
    return {
        "ad_spend_daily": ad_spend_files(),
        "events": events(),
        "orders": orders(),
        "accounts": accounts(),
        "contacts": contacts(),
        "leads": leads(),
        "opportunities": opportunities(),
        "nps_responses": nps_responses(),
    }
