"""B2B links go both ways (issue 18.3) and new accounts agree across marts (issue 18.4).

One raw layer holds the same leads and deals twice: in 2022 each lead names its deal
(`leads.converted_opportunity_id`, as HubSpot / Salesforce lead exports do), in 2023 — the
same records 365 days later — each deal names its lead (`opportunities.lead_id`, as
closed-deals exports do) and the leads name nothing. The funnel, conversion by lead source,
days to close and the deals' lead and channel must be the same both years, and equal to a
pandas computation written here. A third of the deals have no create date: they take the
lead's first contact (flagged). No account export lands: accounts exist only because deals
and leads name them, and kpi_b2b_monthly.new_accounts must count the same accounts as
dim_accounts.first_won_at.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dbt_invoke import dbt_build, read_table
from raw_builder import write_raw

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]

SHIFT = pd.Timedelta(days=365)  # 2022 -> 2023, no leap day in between
# the CRM lead source names a default channel group -> that group; anything else Unassigned
SOURCES = {"Paid Search": "Paid Search", "Email": "Email", "Referral": "Referral",
           "Partner webinar": "Unassigned", None: "Unassigned"}  # fmt: skip
LEAD_TYPES = ["demo_request", "download", "form_fill"]
EMAILS = ["{i}@acme-{i}.com", "person{i}@gmail.com", None]  # corporate, free-mail, none


def _crm(n_leads: int = 90, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical leads and deals, links kept apart in columns `deal_of_lead` / `lead_of_deal`."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2022-01-01") + pd.to_timedelta(
        rng.integers(0, 120, n_leads) * 24 + rng.integers(8, 18, n_leads), unit="h"
    )
    email_kind = rng.integers(0, 3, n_leads)
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i:03d}" for i in range(n_leads)],
            "email": [
                EMAILS[k].format(i=i) if EMAILS[k] else None for i, k in enumerate(email_kind)
            ],
            "company_name": [
                f"Company {i}" if (k == 2 and i % 2 == 0) else None
                for i, k in enumerate(email_kind)
            ],
            "account_id": [f"ACC{i % 6}" if i % 5 == 0 else None for i in range(n_leads)],
            "lead_source": rng.choice(np.array(list(SOURCES), dtype=object), n_leads),
            "lead_type": rng.choice(LEAD_TYPES, n_leads),
            "created_at": created,
        }
    )
    is_mql = rng.random(n_leads) < 0.6
    is_sql = is_mql & (rng.random(n_leads) < 0.6)
    leads["mql_at"] = leads["created_at"].where(is_mql) + pd.Timedelta(days=2)
    leads["sql_at"] = leads["created_at"].where(is_sql) + pd.Timedelta(days=5)

    converted = leads[rng.random(n_leads) < 0.45].reset_index(drop=True)
    n_deals = len(converted)
    stage = rng.choice(["Won", "Lost", "Engaging"], n_deals, p=[0.45, 0.3, 0.25])
    deal_created = converted["created_at"] + pd.to_timedelta(rng.integers(1, 15, n_deals), "D")
    no_create_date = np.arange(n_deals) % 3 == 0
    cycle_start = np.where(no_create_date, converted["created_at"], deal_created)
    closed = pd.Series(cycle_start) + pd.to_timedelta(rng.integers(5, 70, n_deals), "D")
    deals = pd.DataFrame(
        {
            "opportunity_id": [f"D{i:03d}" for i in range(n_deals)],
            # the deal's account: the lead's, some others, some none
            "account_id": [
                acc if acc is not None else (f"ACC{10 + i % 4}" if i % 3 else None)
                for i, acc in enumerate(converted["account_id"])
            ],
            "stage": stage,
            "amount": rng.integers(1, 50, n_deals) * 100.0,
            "currency": "USD",
            "created_at": pd.Series(deal_created).where(~no_create_date),
            "closed_at": closed.where(stage != "Engaging"),
            "lead_of_deal": converted["lead_id"],
        }
    )
    # two deals no lead names or is named by, one with an account and one without
    deals = pd.concat(
        [
            deals,
            pd.DataFrame(
                {
                    "opportunity_id": ["D900", "D901"],
                    "account_id": ["ACC20", None],
                    "stage": ["Won", "Won"],
                    "amount": [700.0, 800.0],
                    "currency": "USD",
                    "created_at": pd.to_datetime(["2022-02-01 10:00", "2022-02-03 10:00"]),
                    "closed_at": pd.to_datetime(["2022-03-01 10:00", "2022-03-04 10:00"]),
                    "lead_of_deal": [None, None],
                }
            ),
        ],
        ignore_index=True,
    )
    leads["deal_of_lead"] = leads["lead_id"].map(
        deals.dropna(subset=["lead_of_deal"]).set_index("lead_of_deal")["opportunity_id"]
    )
    return leads, deals


def _raw_frames(leads: pd.DataFrame, deals: pd.DataFrame) -> dict[str, list[pd.DataFrame]]:
    """2022: the lead names its deal; 2023 (+365 days, ids prefixed Y): the deal names its lead."""
    lead_cols = ["lead_id", "email", "company_name", "account_id", "lead_source", "lead_type",
                 "created_at", "mql_at", "sql_at"]  # fmt: skip
    deal_cols = ["opportunity_id", "account_id", "stage", "amount", "currency", "created_at",
                 "closed_at"]  # fmt: skip
    leads_a = leads[lead_cols].assign(converted_opportunity_id=leads["deal_of_lead"])
    deals_a = deals[deal_cols]

    def shift(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        for col in ("created_at", "mql_at", "sql_at", "closed_at"):
            if col in out:
                out[col] = out[col] + SHIFT
        for col in ("lead_id", "opportunity_id"):
            if col in out:
                out[col] = "Y" + out[col]
        return out

    leads_b = shift(leads[lead_cols])
    deals_b = shift(deals[deal_cols]).assign(lead_id=("Y" + deals["lead_of_deal"]).values)
    return {"leads": [leads_a, leads_b], "opportunities": [deals_a, deals_b]}


def _expected_funnel(leads: pd.DataFrame, deals: pd.DataFrame) -> pd.DataFrame:
    """kpi_b2b_funnel_monthly of the 2022 half, from the canonical records alone."""
    deal = deals.set_index("opportunity_id")
    lead = leads.copy()
    lead["channel"] = lead["lead_source"].map(lambda s: SOURCES[s if s in SOURCES else None])
    converted = lead["deal_of_lead"].notna()
    won = converted & lead["deal_of_lead"].map(deal["stage"]).eq("Won")
    lead = lead.assign(
        month_start=lead["created_at"].dt.to_period("M").dt.to_timestamp(),
        leads=1,
        mqls=(lead["mql_at"].notna() | lead["sql_at"].notna() | converted).astype(int),
        sqls=(lead["sql_at"].notna() | converted).astype(int),
        opportunities=converted.astype(int),
        won_deals=won.astype(int),
        won_tcv=lead["deal_of_lead"].map(deal["amount"]).where(won, 0.0),
    )
    return (
        lead.groupby(["month_start", "channel", "lead_type"])[
            ["leads", "mqls", "sqls", "opportunities", "won_deals", "won_tcv"]
        ]
        .sum()
        .sort_index()
    )


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    leads, deals = _crm()
    home = tmp_path_factory.mktemp("b2b_links_home")
    write_raw(home, _raw_frames(leads, deals))
    dbt_build(
        home,
        tmp_path_factory.getbasetemp() / "dbt_target",
        select="+path:models/marts",  # the marts' tests compare marts with each other
    )
    marts = {
        name: read_table(home, f"marts.{name}")
        for name in (
            "kpi_b2b_funnel_monthly",
            "kpi_b2b_monthly",
            "fct_leads",
            "fct_opportunities",
            "dim_accounts",
        )  # fmt: skip
    }
    return leads, deals, marts


def _half(frame: pd.DataFrame, year: int, time_cols=(), id_cols=()) -> pd.DataFrame:
    """The rows of one year's half, shifted back to 2022 and with the Y prefix removed."""
    frame = frame.copy()
    month = pd.to_datetime(frame["month_start" if "month_start" in frame else "created_at"])
    frame = frame[month.dt.year == year]
    if year == 2023:
        for col in time_cols:
            frame[col] = pd.to_datetime(frame[col]) - SHIFT
        for col in id_cols:
            frame[col] = frame[col].str.removeprefix("Y")
    return frame.reset_index(drop=True)


def test_funnel_is_the_same_whichever_side_names_the_link(linked):
    leads, deals, marts = linked
    funnel = marts["kpi_b2b_funnel_monthly"]
    funnel["month_start"] = pd.to_datetime(funnel["month_start"])
    cols = ["leads", "mqls", "sqls", "opportunities", "won_deals", "won_tcv"]
    expected = _expected_funnel(leads, deals)
    assert expected["opportunities"].sum() > 20 and expected["won_deals"].sum() > 8
    for year in (2022, 2023):
        half = funnel[funnel["month_start"].dt.year == year].copy()
        if year == 2023:
            half["month_start"] = half["month_start"] - pd.DateOffset(years=1)
        got = half.set_index(["month_start", "channel", "lead_type"])[cols].sort_index()
        pd.testing.assert_frame_equal(got.astype(float), expected.astype(float), check_names=False)


def test_conversion_by_lead_source_and_days_to_close_either_way(linked):
    leads, deals, marts = linked
    cols = ["lead_id", "opportunity_id", "channel", "lead_source", "is_converted", "is_won",
            "funnel_stage", "days_to_close", "motion"]  # fmt: skip
    fct = marts["fct_leads"]
    a = _half(fct, 2022)[cols].sort_values("lead_id").reset_index(drop=True)
    b = _half(fct, 2023, time_cols=["created_at"], id_cols=["lead_id", "opportunity_id"])
    b = b[cols].sort_values("lead_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)

    # conversion by lead source, from the records alone
    deal = deals.set_index("opportunity_id")
    expected = leads.assign(
        converted=leads["deal_of_lead"].notna(),
        won=leads["deal_of_lead"].map(deal["stage"]).eq("Won"),
    )
    expected["lead_source"] = expected["lead_source"].fillna("(none)")
    rate = expected.groupby("lead_source")[["converted", "won"]].mean()
    got = a.assign(lead_source=a["lead_source"].fillna("(none)"))
    got_rate = got.groupby("lead_source")[["is_converted", "is_won"]].mean()
    np.testing.assert_allclose(got_rate.values, rate.values)

    # days from first contact to the deal's close, whatever its stage
    closed_at = expected["deal_of_lead"].map(deal["closed_at"])
    days = (closed_at.dt.normalize() - expected["created_at"].dt.normalize()).dt.days
    got_days = a.set_index("lead_id")["days_to_close"]
    exp_days = pd.Series(days.values, index=expected["lead_id"]).reindex(got_days.index)
    assert got_days.notna().sum() > 10
    pd.testing.assert_series_equal(
        got_days.astype("Float64"), exp_days.astype("Float64"), check_names=False
    )


def test_deal_without_create_date_takes_its_leads_first_contact(linked):
    leads, deals, marts = linked
    fct = marts["fct_opportunities"]
    lead_created = leads.set_index("lead_id")["created_at"]
    for year in (2022, 2023):
        half = _half(
            fct, year, time_cols=["created_at", "closed_at", "first_contact_at"],
            id_cols=["opportunity_id", "lead_id"],
        ).set_index("opportunity_id").loc[deals["opportunity_id"]]  # fmt: skip
        d = deals.set_index("opportunity_id")
        # the deal's lead, whichever side named it; none for the two deals without one
        assert half["lead_id"].fillna("-").tolist() == d["lead_of_deal"].fillna("-").tolist()
        own = d["created_at"].notna()
        expected_created = d["created_at"].where(own, d["lead_of_deal"].map(lead_created))
        assert (half["is_created_at_from_lead"] == ~own).all()
        assert (~own).sum() > 10
        pd.testing.assert_series_equal(
            pd.to_datetime(half["created_at"]), expected_created, check_names=False
        )
        closed = d["stage"].isin(["Won", "Lost"])
        cycle = (d["closed_at"].dt.normalize() - expected_created.dt.normalize()).dt.days
        pd.testing.assert_series_equal(
            half["sales_cycle_days"].astype("Float64"),
            cycle.where(closed).astype("Float64"),
            check_names=False,
        )
        first_contact = d["lead_of_deal"].map(lead_created).fillna(d["created_at"])
        to_won = (d["closed_at"].dt.normalize() - first_contact.dt.normalize()).dt.days
        pd.testing.assert_series_equal(
            half["days_from_first_contact_to_won"].astype("Float64"),
            to_won.where(d["stage"] == "Won").astype("Float64"),
            check_names=False,
        )
        # the deal's channel is its lead's
        lead_channel = (
            d["lead_of_deal"]
            .map(leads.set_index("lead_id")["lead_source"])
            .map(lambda s: SOURCES.get(s, "Unassigned") if isinstance(s, str) else "Unassigned")
        )
        expected_channel = lead_channel.where(lead_channel != "Unassigned")
        assert half["channel"].fillna("-").tolist() == expected_channel.fillna("-").tolist()


def test_no_account_is_never_b2c_by_default(linked):
    leads, deals, marts = linked
    fct_leads = marts["fct_leads"].set_index("lead_id")
    dim = marts["dim_accounts"].set_index("account_id")
    # a lead without account (none of its own, its deal's, its person's or its domain's):
    # inferred from its own e-mail domain and company name
    no_account = fct_leads.index[fct_leads["account_id"].isna()]
    own = leads.set_index("lead_id").reindex(no_account[~no_account.str.startswith("Y")])
    domain = own["email"].str.split("@").str[1].fillna("")
    expected = np.select(
        [domain.str.startswith("acme-") | own["company_name"].notna(), domain == "gmail.com"],
        ["b2b", "b2c"],
        default="unknown",
    )
    got = fct_leads.loc[own.index, "motion"]
    assert len(got) > 20 and got.tolist() == list(expected)
    assert (got == "unknown").sum() > 3  # no e-mail, no company: unknown, not b2c
    # a lead with an account: the account's motion
    with_account = fct_leads[fct_leads["account_id"].notna()]
    assert (with_account["motion"] == dim.loc[with_account["account_id"], "motion"].values).all()

    fct_opps = marts["fct_opportunities"].set_index("opportunity_id")
    no_account = fct_opps[fct_opps["account_id"].isna()]
    lead_motion = fct_leads["motion"].reindex(no_account["lead_id"]).fillna("unknown")
    assert no_account["motion"].tolist() == lead_motion.tolist()
    assert fct_opps.loc["D901", "motion"] == "unknown"  # no account, no lead


def test_new_accounts_agree_with_dim_accounts(linked):
    leads, deals, marts = linked
    kpi = marts["kpi_b2b_monthly"]
    dim = marts["dim_accounts"]
    # no account export landed: every account is one that deals or leads name
    named = set(deals["account_id"].dropna()) | set(leads["account_id"].dropna())
    assert set(dim["account_id"]) == named
    assert set(dim["account_source"]) == {"named by deals or leads"}
    # accounts with a won deal, by the month of their first win, over both halves
    won = pd.concat([deals, deals.assign(closed_at=deals["closed_at"] + SHIFT)], ignore_index=True)
    won = won[(won["stage"] == "Won") & won["account_id"].notna()]
    first = won.groupby("account_id")["closed_at"].min()
    expected = first.dt.to_period("M").dt.to_timestamp().value_counts().sort_index()
    got = kpi.assign(month_start=pd.to_datetime(kpi["month_start"])).set_index("month_start")
    got = got.loc[got["new_accounts"] > 0, "new_accounts"].sort_index()
    pd.testing.assert_series_equal(got, expected, check_names=False, check_dtype=False)
    assert kpi["new_accounts"].sum() == dim["first_won_at"].notna().sum() == len(first)
    dim_first = dim.dropna(subset=["first_won_at"]).set_index("account_id")["first_won_at"]
    pd.testing.assert_series_equal(
        pd.to_datetime(dim_first).sort_index(), first.sort_index(), check_names=False
    )
