"""Needs-based segment: each account's and contact's dominant need from page topics, for
prospects too, equal to the seed's URL rules applied in pandas. The cluster marts are in the
same dbt selection and build to zero rows when the k-means step has not run (empty-safe)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

from pipelines.core.settings import DBT_PROJECT_DIR
from tests.dbt.dbt_invoke import dbt_build, read_table
from tests.dbt.raw_builder import write_raw

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dbt")]

ACCOUNTS = pd.DataFrame(
    [
        ("A1", "Acme", "acme.com", "software", 250, 2e7, "USD", "Germany"),  # customer
        ("A2", "Prospectly", "prospectly.io", "retail", 40, 3e6, "USD", "France"),  # prospect
        ("A3", "Quiet", "quiet.org", "finance", 900, 9e7, "USD", "Japan"),  # no web data
    ],
    columns=["account_id", "account_name", "domain", "industry", "employees", "annual_revenue",
             "currency", "country"],
)  # fmt: skip
CONTACTS = pd.DataFrame(
    [
        ("C1", "A1", "ann@acme.com"),
        ("C2", "A1", "ben@acme.com"),
        ("C3", "A2", "cy@prospectly.io"),  # a prospect's contact
        ("C4", None, "di@gmail.com"),  # no account
        ("C5", "A3", "ed@quiet.org"),  # never on the site
    ],
    columns=["contact_id", "account_id", "email"],
)
OPPORTUNITIES = pd.DataFrame(
    [("O1", "A1", "Won", 12000.0, "USD", "2024-01-10", "2024-02-20", True, True)],
    columns=["opportunity_id", "account_id", "stage", "amount", "currency", "created_at",
             "closed_at", "is_closed", "is_won"],
)  # fmt: skip
VISITS = {
    "C1": ["/pricing", "/pricing/", "/Docs/api", "/careers"],  # cost 2, technical 1
    "C2": ["/docs", "/developers/sdk", "/careers", "/about", "/jobs", "/press"],  # technical 2
    "C3": ["/security", "/trust/soc2", "/blog/post-1", "/demo"],  # security & compliance 2
    "C4": ["/pricing", "/docs"],  # tie 1-1: the need's name decides (cost)
}
SITE = "https://www.example.test"


def _events() -> pd.DataFrame:
    rows = []
    for contact, paths in VISITS.items():
        for i, path in enumerate(paths):
            at = pd.Timestamp("2024-02-01 09:00") + pd.Timedelta(minutes=5 * i)
            rows.append((f"{contact}-{i}", at, "page_view", f"dev-{contact}", contact, SITE + path))
    rows.append(
        ("anon-1", pd.Timestamp("2024-02-02 10:00"), "page_view", "dev-x", None, SITE + "/pricing")
    )
    return pd.DataFrame(
        rows,
        columns=["event_id", "event_at", "event_name", "user_pseudo_id", "user_id", "page_location"],
    )  # fmt: skip


def _dominant(counts: pd.DataFrame, key: str) -> pd.Series:
    ranked = counts.sort_values([key, "views", "need"], ascending=[True, False, True])
    return ranked.drop_duplicates(key).set_index(key)["need"]


def expected_needs() -> tuple[pd.Series, pd.Series]:
    """(need by contact, need by account): seed rules applied in pandas (first rule by
    rule_order whose regex matches the lower-cased path; 'none' ignored; most views, ties by
    the need's name)."""
    rules = pd.read_csv(DBT_PROJECT_DIR / "seeds" / "page_topic_rules.csv").sort_values(
        "rule_order"
    )

    def need(url: str) -> str | None:
        path = urlparse(url).path.lower()
        for pattern, value in zip(rules["path_pattern"], rules["need"], strict=True):
            if re.search(pattern, path):
                return value
        return None

    events = _events().dropna(subset=["user_id"])
    events = events.assign(need=events["page_location"].map(need))
    events = events[events["need"].notna() & (events["need"] != "none")]
    by_contact = events.groupby(["user_id", "need"]).size().rename("views").reset_index()
    account_of = CONTACTS.set_index("contact_id")["account_id"]
    with_account = events.assign(account_id=events["user_id"].map(account_of)).dropna(
        subset=["account_id"]
    )
    by_account = with_account.groupby(["account_id", "need"]).size().rename("views").reset_index()
    return _dominant(by_contact, "user_id"), _dominant(by_account, "account_id")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("needs_home")
    write_raw(
        home,
        {
            "accounts": ACCOUNTS,
            "contacts": CONTACTS,
            "opportunities": OPPORTUNITIES,
            "events": _events(),
        },
    )
    dbt_build(home, tmp_path_factory.getbasetemp() / "dbt_target")
    return home


def test_dominant_need_of_every_contact_prospects_too(home):
    by_contact, _ = expected_needs()
    contacts = read_table(home, "marts.dim_contacts").set_index("contact_id")
    wanted = CONTACTS["contact_id"].map(by_contact).fillna("unknown")
    assert contacts.loc[CONTACTS["contact_id"], "needs_segment"].tolist() == wanted.tolist()
    assert wanted.tolist() == ["cost", "technical", "security & compliance", "cost", "unknown"]
    assert not contacts.loc["C3", "is_customer"]


def test_dominant_need_of_every_account_prospects_too(home):
    _, by_account = expected_needs()
    accounts = read_table(home, "marts.dim_accounts").set_index("account_id")
    wanted = ACCOUNTS["account_id"].map(by_account).fillna("unknown")
    assert accounts.loc[ACCOUNTS["account_id"], "needs_segment"].tolist() == wanted.tolist()
    assert wanted.tolist() == ["technical", "security & compliance", "unknown"]
    assert accounts.loc["A2", "lifecycle_stage"] == "prospect"


def test_cluster_marts_build_empty_before_the_kmeans_step(home):
    for mart in ("dim_account_clusters", "dim_customer_clusters", "dim_cluster_profiles"):
        frame = read_table(home, f"marts.{mart}")
        assert frame.empty
        assert "cluster_id" in frame.columns
