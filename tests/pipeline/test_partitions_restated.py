"""Incremental dbt models on load time (docs/incremental.md), on the real Dagster job and dbt:
a restated ad report, a re-exported order line and an identity change.

One small generated home run by the real job (its first run a full refresh), then, landed
together and run incrementally with every check: a restated Meta Ads report (revised spend of
past days), a re-exported order line (its date and price changed), an identity change (an
anonymous visitor logs in as a known customer: every earlier session of the device becomes
the customer's), a campaign renamed (a later Meta report names a campaign id differently:
every touchpoint whose utm_campaign holds the id, and the attribution rows crediting them, move
to the new campaign key), a contact moved to another company (a HubSpot contacts re-export:
the person's touchpoints and conversions move to the won deal's account whose touches attribution
counts) and an NPS export (nothing new for the incremental models). The result
is compared, mart by mart, with a full refresh of the same landing.
A late day and a new day: test_partitions.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.pipeline.incremental_rounds import (
    INCREMENTAL_MODELS,
    LOADED_SINCE,
    META_REPORT,
    NEW_DAY,
    NPS_FILE,
    OLD_ORDERS,
    full_refresh,
    generated,
    how_built,
    land,
    login,
    marts_snapshot,
    move_contact,
    new_home,
    query,
    reexport_line,
    rename_campaign,
    restate,
    run,
)
from tests.pipeline.runner import check_results
from tests.reliability.pipeline_home import snapshot_diff

HUBSPOT_CONTACTS = "crm/hubspot/hubspot-crm-exports-all-contacts-2025-01-01.csv"


@pytest.fixture(scope="module")
def restated(tmp_path_factory):
    """The base run (every generated file but the NPS export), then the round's incremental
    run with every check and a full refresh after it."""
    root = tmp_path_factory.mktemp("incremental_restated")
    source, _ = generated(root)
    home, dagster_home = new_home(root, source, [Path(NPS_FILE).name])
    out = {"home": home}
    run(home, dagster_home)

    demo = home / "landing" / "demo"
    out["revised_spend"] = restate(
        source / META_REPORT, demo / (Path(META_REPORT).stem + " (1).csv")
    )
    out["moved_line"] = line = reexport_line(
        source / OLD_ORDERS, demo / "crm/shopify/orders_export_23 (edited).csv"
    )
    customer = query(
        home,
        "select customer_id from intermediate.int_order_lines_converted where order_id = ?",
        [line["order_id"]],
    )[0][0]
    pseudo_id = query(
        home,
        "select user_pseudo_id from intermediate.int_events_sourced"
        " where event_at < '2024-12-01' group by 1 order by count(*) desc, 1 limit 1",
    )[0][0]
    out["login"] = {"customer_id": customer, "user_pseudo_id": pseudo_id}
    with gzip.open(source / f"web/ga4/events_{NEW_DAY}.jsonl.gz", "rt") as f:
        template = json.loads(f.readline())
    login(template, demo / "web/ga4/events_20250102.jsonl.gz", pseudo_id, customer)
    out["person_before"] = query(
        home,
        "select distinct person_key from marts.fct_sessions where user_pseudo_id = ?",
        [pseudo_id],
    )
    campaign_id = query(
        home,
        "select campaigns.campaign_id from intermediate.int_touchpoints as touchpoints"
        " inner join marts.dim_campaigns as campaigns"
        " on touchpoints.campaign = lower(campaigns.campaign_id)"
        " where campaigns.platform = 'meta_ads' group by 1 order by count(*) desc, 1 limit 1",
    )[0][0]
    out["renamed"] = {"campaign_id": campaign_id, "name": "Meta | Renamed | Campaign 2025"}
    out["renamed_before"] = query(
        home,
        "select count(*) from marts.fct_attribution as attribution"
        " inner join intermediate.int_touchpoints as raw"
        " on attribution.touchpoint_id = raw.touchpoint_id where raw.campaign = ?",
        [campaign_id],
    )[0][0]
    rename_campaign(
        source / META_REPORT,
        demo / "ads/meta_ads/Segmart-Demo-Campaigns-Jan-2-2025-Jan-2-2025.csv",
        campaign_id,
        out["renamed"]["name"],
        "2025-01-02",
    )
    # a contact with touchpoints moves to the account of a won deal
    contacts = [
        str(r[0])
        for r in query(
            home,
            "select people.contact_id from intermediate.int_people_resolved as people"
            " inner join marts.fct_touchpoints as touchpoints"
            " on people.person_key = touchpoints.person_key"
            " where people.contact_id is not null group by 1 order by count(*) desc, 1",
        )
    ]
    account = query(
        home,
        "select account_id from marts.fct_conversions where conversion_type = 'won_deal'"
        " and account_id is not null order by converted_at desc, 1 limit 1",
    )[0][0]
    moved = move_contact(
        source / HUBSPOT_CONTACTS,
        demo / "crm/hubspot/hubspot-crm-exports-all-contacts-2025-01-02.csv",
        contacts,
        str(account),
    )
    out["moved_contact"] = {"contact_id": moved, "account_id": str(account)}
    land(source, home, [source / NPS_FILE])
    second = run(home, dagster_home, job="segmart_full")  # with every check
    out["checks"] = check_results(second)
    out["how"] = how_built(second)
    out["incremental"] = marts_snapshot(home)
    out["person_after"] = query(
        home,
        "select distinct person_key from marts.fct_sessions where user_pseudo_id = ?",
        [pseudo_id],
    )
    out["renamed_after"] = query(
        home,
        "select distinct attribution.campaign from marts.fct_attribution as attribution"
        " inner join intermediate.int_touchpoints as raw"
        " on attribution.touchpoint_id = raw.touchpoint_id where raw.campaign = ?",
        [campaign_id],
    )
    out["moved_after"] = query(
        home,
        "select distinct touchpoints.account_id from marts.fct_touchpoints as touchpoints"
        " inner join intermediate.int_people_resolved as people"
        " on touchpoints.person_key = people.person_key where people.contact_id = ?",
        [moved],
    )
    out["full"] = full_refresh(home, dagster_home)
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("incremental_restated")
def test_a_restated_report_a_reexported_line_and_an_identity_change_equal_a_full_refresh(
    restated,
):
    assert restated["how"] == dict.fromkeys(INCREMENTAL_MODELS, LOADED_SINCE)
    incremental, full = restated["incremental"], restated["full"]
    assert {"fct_sessions", "fct_touchpoints", "fct_attribution", "kpi_channel_daily"} <= set(full)
    assert snapshot_diff(incremental, full) == {}
    # the dbt tests of every model and the reconciliations pass on the incremental state (the
    # raw GX suites validate the ingest, which incremental builds do not touch)
    checks = {k: v for k, v in restated["checks"].items() if " :: gx_raw__" not in k}
    assert any("int_sessions :: " in k for k in checks)
    assert checks and all(checks.values()), {k: v for k, v in checks.items() if not v}
    home = restated["home"]
    # the restated spend replaced the first download's, day by day
    got = dict(
        ((campaign, str(day)), spend)
        for campaign, day, spend in query(
            home,
            "select campaign_id, spend_date, spend_original from marts.fct_ad_spend_daily"
            " where platform = 'meta_ads' and not is_prorated",
        )
    )
    revised = restated["revised_spend"]
    assert revised and all(got[key] == pytest.approx(value) for key, value in revised.items())
    # the re-exported line: one version, on its new day, at its new price
    line = restated["moved_line"]
    rows = query(
        home,
        "select ordered_at, unit_price from intermediate.int_order_lines_converted"
        " where order_id = ?",
        [line["order_id"]],
    )
    moved = pd.Timestamp(line["ordered_at"]).tz_convert("UTC").tz_localize(None)
    assert [(pd.Timestamp(r[0]), r[1]) for r in rows] == [(moved, pytest.approx(line["price"]))]
    # the identity change: every session of the device is the customer's now
    before, after = restated["person_before"], restated["person_after"]
    assert len(after) == 1 and after != before
    customer_person = query(
        home,
        "select distinct person_key from marts.fct_orders where customer_id = ?",
        [restated["login"]["customer_id"]],
    )
    assert after == customer_person
    # the renamed campaign: every attribution row crediting a touch of the id carries the new
    # name
    assert restated["renamed_before"] > 0
    assert restated["renamed_after"] == [(restated["renamed"]["name"].lower(),)]
    # the moved contact: the person's touchpoints carry the new account
    assert restated["moved_after"] == [(restated["moved_contact"]["account_id"],)]
