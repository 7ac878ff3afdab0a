"""Native UI export shapes (as in generator/SHAPES.md), written here row by row."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from pipelines.ingest import run_ingest
from tests.ingest.conftest import land, quarantine, raw


def _one(home):
    [f] = run_ingest(home).files
    assert f.status == "loaded", f.reason
    assert f.rows_read == f.rows_loaded + f.rows_quarantined
    return f


GOOGLE_ADS = (
    "Campaign report\n"
    '"March 1, 2024 - March 31, 2024"\n'
    "Day,Campaign,Campaign ID,Campaign type,Campaign status,Currency code,Impr.,Clicks,CTR,"
    "Avg. CPC,Cost,Conversions,Conv. value,Account,Customer ID\n"
    '2024-03-01,Brand,201,Search,Enabled,USD,"25,881",130,0.50%,37.22,"4,838.80",3.50,'
    '"1,200.00",Demo,123-456-7890\n'
    "2024-03-01,Generic,202,Search,Enabled,USD,0,0, --, --,0.00,0.00,0.00,Demo,123-456-7890\n"
    "2024-03-02,Broken, --,Search,Enabled,USD,5,1,20.00%,1.00,1.00,0.00,0.00,Demo,123-456-7890\n"
    'Total: Campaigns, --, --, --, --,USD,"25,886",131,0.51%,36.94,"4,839.80",3.50,"1,200.00", --, --\n'
    'Total: Account, --, --, --, --,USD,"25,886",131,0.51%,36.94,"4,839.80",3.50,"1,200.00", --, --\n'
)


@pytest.mark.parametrize("variant", ["csv", "csv-for-excel"], ids=["utf8-comma", "utf16-tab"])
def test_google_ads_ui_report(home, variant):
    if variant == "csv":
        land(home, "ads/Campaign report 2024-03.csv", GOOGLE_ADS)
    else:
        tsv = "\r\n".join(
            "\t".join(c.replace("\t", " ") for c in row)
            for row in __import__("csv").reader(GOOGLE_ADS.splitlines())
        )
        land(home, "ads/Campaign report 2024-03.csv", "\ufeff" + tsv + "\r\n", "utf-16-le")
    f = _one(home)
    assert f.mapping == "google_ads_ui_campaigns"
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (3, 2, 1)
    assert sum(v for k, v in f.rows_skipped.items() if k.startswith("footer")) == 2
    df = raw(home, "ad_spend_daily").set_index("campaign_id")
    assert df.loc["201", "impressions"] == 25881
    assert df.loc["201", "spend"] == pytest.approx(4838.80)
    assert df.loc["201", "platform_conversion_value"] == pytest.approx(1200.0)
    assert df.loc["201", "ad_account_id"] == "123-456-7890"
    assert (df["currency"] == "USD").all() and (df["platform"] == "google_ads").all()
    assert quarantine(home, "ad_spend_daily")["reason"].tolist() == ["missing required campaign_id"]


def test_meta_ads_manager_export(home):
    text = (
        "\ufeffReporting starts,Reporting ends,Day,Account ID,Account name,Campaign name,"
        "Campaign ID,Impressions,Reach,Link clicks,CTR (link click-through rate),"
        "CPC (cost per link click) (EUR),Amount spent (EUR),Purchases,"
        "Purchases conversion value,Attribution setting\n"
        "2024-02-01,2024-02-29,,1029384756,Demo,,,1093,840,12,1.1,0.5,6.29,2.4,251.09,7-day\n"
        "2024-02-01,2024-02-29,2024-02-01,1029384756,Demo,Prospecting EU,1202,11,9,1,9.09,"
        "0.65,0.65,,,7-day\n"
        "2024-02-01,2024-02-29,2024-02-02,1029384756,Demo,Retargeting,1203,1082,831,11,1.0,"
        "0.51,5.64,2.4,251.09,7-day\n"
    )
    land(home, "ads/meta/Segmart-Demo-Campaigns-Feb-1-2024-Feb-29-2024.csv", text)
    f = _one(home)
    assert f.mapping == "meta_ads_ui_campaigns"
    assert (f.rows_read, f.rows_loaded) == (2, 2)
    assert f.rows_skipped == {"summary rows (Day, Campaign ID, Campaign name empty)": 1}
    df = raw(home, "ad_spend_daily").sort_values("campaign_id")
    assert df["currency"].tolist() == ["EUR", "EUR"]  # from the spend header
    assert df["spend"].tolist() == [0.65, 5.64]
    assert df["clicks"].tolist() == [1, 11]
    assert df["spend_date"].astype(str).tolist() == ["2024-02-01", "2024-02-02"]


def test_meta_empty_report_loads_nothing(home):
    land(
        home,
        "meta.csv",
        "\ufeffReporting starts,Reporting ends,Day,Campaign name,Campaign ID,"
        "Amount spent (USD)\nNo data available.\n",
    )
    f = _one(home)
    assert (f.rows_read, f.rows_skipped) == (0, {"footer/summary rows (No data available.)": 1})


def test_linkedin_campaign_manager_utf16_with_preamble(home):
    lines = [
        "Campaign Performance Report (in UTC)",
        "Report Start: 3/1/2024, 12:00 AM",
        "Report End: 3/31/2024, 11:59 PM",
        "Date Generated: 1/1/2025, 9:00 AM",
        "Account: Segmart Demo Co (508123456)",
        "Start Date (in UTC)\tAccount Name\tCurrency\tCampaign Group Name\tCampaign ID\t"
        "Campaign Name\tCampaign Type\tCampaign Status\tTotal Spent\tImpressions\tClicks\t"
        "Click Through Rate\tAverage CPC\tConversions\tLeads",
        "3/1/2024\tDemo\tGBP\tGroup\t601\tABM\tSponsored\tActive\t120.50\t3000\t25\t0.0083\t4.82\t2\t1",
        "3/2/2024\tDemo\tGBP\tGroup\t601\tABM\tSponsored\tActive\t0.00\t0\t0\t0\t\t0\t0",
    ]
    land(
        home,
        "campaign_performance_report_2024-03.csv",
        "\ufeff" + "\r\n".join(lines) + "\r\n",
        "utf-16-le",
    )
    f = _one(home)
    assert f.mapping == "linkedin_ads_ui_campaigns"
    df = raw(home, "ad_spend_daily").sort_values("spend_date")
    assert df["spend_date"].astype(str).tolist() == ["2024-03-01", "2024-03-02"]
    assert df["ad_account_id"].unique().tolist() == ["508123456"]  # from the preamble
    assert df["spend"].tolist() == [120.5, 0.0] and df["currency"].unique().tolist() == ["GBP"]


def test_tiktok_ads_manager_dash_as_null(home):
    text = (
        "By Day,Campaign name,Campaign ID,Currency,Cost,Impressions,Clicks (destination),"
        "CTR (destination),CPC (destination),Conversions,Total purchase value\n"
        "2024-03-01,TT Prospecting,1790,USD,12.30,4000,40,1.00%,0.31,2,80.00\n"
        "2024-03-02,TT Prospecting,1790,USD,0.00,0,0,-,-,0,-\n"
    )
    land(home, "tiktok_campaign_report_20240301-20240331.csv", text)
    f = _one(home)
    assert f.mapping == "tiktok_ads_ui_campaigns" and f.rows_quarantined == 0
    df = raw(home, "ad_spend_daily").sort_values("spend_date")
    assert df["platform_conversion_value"].isna().tolist() == [False, True]
    assert df["spend"].tolist() == [12.3, 0.0]


def test_salesforce_leads_report_footer_and_local_time(home):
    header = (
        '"Lead ID","First Name","Last Name","Title","Company / Account","Email","Lead Source",'
        '"Lead Status","Industry","No. of Employees","Country","Lead Type","UTM Source",'
        '"UTM Medium","UTM Campaign","Create Date","MQL Date","SQL Date","Converted",'
        '"Converted Date","Converted Account ID","Converted Contact ID",'
        '"Converted Opportunity ID","Last Modified Date"'
    )
    row = (
        '"00Q000000000000001","Ann","Lee","CTO","Acme","Ann@Acme.com","Web","Nurturing",'
        '"Tech","120","US","Demo Request","google","cpc","brand","3/5/2024 9:05 AM",'
        '"3/6/2024","","0","","","","","3/7/2024 1:00 PM"'
    )
    bad = row.replace("00Q000000000000001", "00Q000000000000002").replace(
        "3/5/2024 9:05 AM", "not a date"
    )
    footer = (
        '""\r\n""\r\n"Confidential Information - Do Not Distribute"\r\n'
        '"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."\r\n""\r\n'
    )
    land(home, "report1735689600000.csv", f"{header}\r\n{row}\r\n{bad}\r\n{footer}")
    f = _one(home)
    assert f.mapping == "salesforce_ui_leads"
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (2, 1, 1)
    df = raw(home, "leads")
    # 9:05 AM in Los Angeles (PST, UTC-8) = 17:05 UTC
    assert df["created_at"].tolist() == [pd.Timestamp("2024-03-05 17:05:00")]
    assert df["mql_at"].tolist() == [pd.Timestamp("2024-03-06 08:00:00")]
    assert df["lead_type"].tolist() == ["demo_request"] and df["email"].tolist() == ["ann@acme.com"]
    q = quarantine(home, "leads")
    assert q["reason"].tolist() == ["bad timestamp 'not a date' in created_at"]


def test_shopify_orders_fill_down_returns_and_offsets(home):
    header = (
        "Name,Email,Financial Status,Currency,Subtotal,Created at,Lineitem quantity,"
        "Lineitem name,Lineitem price,Lineitem sku,Lineitem fulfillment status,Billing Country,"
        "Note Attributes,Source,Customer ID,Lineitem product type,Lineitem discount,Lineitem cost"
    )
    rows = [
        "#1001,a@x.io,partially_refunded,EUR,45.00,2024-03-05 10:00:00 -0500,2,Cap,20.00,SKU-1,"
        'fulfilled,DE,"utm_source: fb\nutm_medium: paid_social\nutm_campaign: spring",web,'
        "5100000000001,Accessories,0.00,8.00",
        "#1001,a@x.io,,,,,1,Scarf,5.00,SKU-2,fulfilled,,,,,Accessories,0.00,2.00",
        "#1001,a@x.io,,,,,-1,Cap,20.00,SKU-1,returned,,,,,Accessories,0.00,8.00",
        "#1002,,paid,USD,10.00,2024-07-01 09:30:00 -0400,1,Mug,12.00,SKU-3,fulfilled,US,,pos,,"
        "Home,2.00,4.00",
    ]
    land(home, "orders_export_1.csv", header + "\n" + "\n".join(rows) + "\n")
    f = _one(home)
    assert f.mapping == "shopify_ui_orders" and f.rows_quarantined == 0
    df = raw(home, "orders").sort_values("_source_row")
    assert df["order_line_id"].tolist() == ["1", "2", "3", "1"]
    assert df["ordered_at"].tolist() == [pd.Timestamp("2024-03-05 15:00:00")] * 3 + [
        pd.Timestamp("2024-07-01 13:30:00")
    ]
    assert df["currency"].tolist() == ["EUR", "EUR", "EUR", "USD"]
    assert df["net_amount"].tolist() == [40.0, 5.0, -20.0, 10.0]
    assert df["is_return"].tolist() == [False, False, True, False]
    assert df["cost_amount"].tolist() == [16.0, 2.0, -8.0, 4.0]
    assert df["utm_source"].tolist()[:3] == ["fb"] * 3
    assert df["utm_campaign"].tolist()[0] == "spring"
    assert df["customer_id"].tolist()[:3] == ["5100000000001"] * 3
    assert df["channel"].tolist() == ["web", "web", "web", "pos"]


def test_shopify_line_without_price_is_quarantined(home):
    """`N/A` is a null token, but a line without a price has unknown revenue: the Shopify
    mapping requires it, so the line goes to quarantine instead of loading as null."""
    land(
        home,
        "orders_export_2.csv",
        "Name,Currency,Created at,Lineitem quantity,Lineitem name,Lineitem price\n"
        "#2001,USD,2024-03-05 10:00:00 -0500,1,Cap,20.00\n"
        "#2001,,,2,Scarf,N/A\n"
        "#2002,USD,2024-03-06 10:00:00 -0500,,Mug,12.00\n",
    )
    f = _one(home)
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (3, 1, 2)
    assert raw(home, "orders")["net_amount"].tolist() == [20.0]
    reasons = sorted(quarantine(home, "orders")["reason"])
    assert reasons == ["missing required quantity", "missing required unit_price"]


def test_nps_export_offsets_and_out_of_range(home):
    text = (
        "Response ID,Person ID,Email,Name,Score,Comment,Created At,Survey,contact_id,"
        "customer_id,company_id\r\n"
        '1,p1,a@x.io,A,9,"Great, ""really""\nthanks 🎉",2024-03-05T14:22:01Z,Post-purchase NPS,,'
        "5100000000001,\r\n"
        "2,p2,b@x.io,B,7,ok,2024-03-05T15:22:01+01:00,B2B relationship NPS,77,,88\r\n"
        "3,p3,c@x.io,C,11,,2024-03-05T09:22:01-05:00,Post-purchase NPS,,,\r\n"
        "4,p4,d@x.io,D,ten,,2024-03-05T09:22:01-05:00,Post-purchase NPS,,,\r\n"
    )
    land(home, "delighted-responses-2025-01-01.csv", text)
    f = _one(home)
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (4, 2, 2)
    df = raw(home, "nps_responses").sort_values("response_id")
    assert df["responded_at"].tolist() == [pd.Timestamp("2024-03-05 14:22:01")] * 2
    assert df["comment"].tolist()[0] == 'Great, "really"\nthanks 🎉'
    reasons = sorted(quarantine(home, "nps_responses")["reason"])
    assert reasons == ["11 out of range [0, 10] in score", "bad int 'ten' in score"]


def test_hubspot_companies_local_time_and_bad_rows(home):
    text = (
        "Record ID,Company name,Company Domain Name,Industry,Number of Employees,Annual Revenue,"
        "Country/Region,State/Region,City,Customer Type,Parent Company ID,Web Technologies,"
        "Create Date,Last Modified Date,Company owner,Lifecycle Stage\n"
        "9823410001,Acme,https://www.Acme-Logistics.com/about,Tech,250,25000000,USA,NY,NYC,B2B,,"
        "hubspot;aws,2024-01-15 09:00,2024-06-01 12:30,Jo,Customer\n"
        "9823410002,Beta,beta.io,,fifty,,UK,,,,,,2024-01-15 09:00,2024-01-15 09:00,Jo,Lead\n"
        ",NoId,x.io,,,,,,,,,,2024-01-15 09:00,2024-01-15 09:00,Jo,Lead\n"
    )
    land(home, "hubspot-crm-exports-all-companies-2025-01-01.csv", text)
    f = _one(home)
    assert (f.mapping, f.rows_loaded, f.rows_quarantined) == ("hubspot_ui_companies", 1, 2)
    df = raw(home, "accounts")
    assert df["domain"].tolist() == ["acme-logistics.com"]
    assert df["created_at"].tolist() == [pd.Timestamp("2024-01-15 14:00:00")]  # EST → UTC
    assert df["currency"].tolist() == ["USD"]
    reasons = sorted(quarantine(home, "accounts")["reason"])
    assert reasons == ["bad int 'fifty' in employees", "missing required account_id"]


def test_ga4_bigquery_jsonl_gz(home):
    def event(ts, name, url, **extra):
        return {
            "event_date": "20240301",
            "event_timestamp": str(ts),
            "event_name": name,
            "user_pseudo_id": "123.456",
            "event_params": [
                {"key": "ga_session_id", "value": {"int_value": "1709"}},
                {"key": "page_location", "value": {"string_value": url}},
            ],
            "device": {"category": "mobile"},
            "geo": {"country": "Germany"},
            **extra,
        }

    landing = "https://www.segmart-demo.com/?utm_source=fb&utm_medium=paid_social&utm_campaign=spring%20sale&fbclid=abc"
    events = [
        event(1709251200000000, "session_start", landing),
        event(
            1709251260000000,
            "purchase",
            "https://www.segmart-demo.com/checkout",
            user_id="5100000000001",
            ecommerce={"transaction_id": "#1001", "purchase_revenue": 45.0},
        ),
        {"event_timestamp": "not-a-timestamp", "event_name": "page_view", "user_pseudo_id": "9"},
    ]
    body = "".join(json.dumps(e) + "\n" for e in events + events[:1])  # + one exact duplicate
    land(home, "web/ga4/events_20240301.jsonl.gz", gzip.compress(body.encode()))
    f = _one(home)
    assert f.mapping == "ga4_bigquery_events"
    assert (f.rows_read, f.rows_loaded, f.rows_quarantined) == (4, 3, 1)
    df = raw(home, "events").sort_values("_source_row")
    assert df["event_at"].tolist()[0] == pd.Timestamp("2024-03-01 00:00:00")
    first = df.iloc[0]
    # no collected_traffic_source: the URL's UTMs and click ids are read from page_location
    # in staging (stg_web__events), the raw row keeps the URL
    assert first["page_location"] == landing
    assert (first["utm_source"], first["utm_campaign"], first["fbclid"]) == (None, None, None)
    assert (first["session_id"], first["device_category"], first["country"]) == (
        "1709",
        "mobile",
        "Germany",
    )
    purchase = df[df["event_name"] == "purchase"].iloc[0]
    assert (purchase["transaction_id"], purchase["revenue"]) == ("#1001", 45.0)
    assert df["event_id"].iloc[0] == df["event_id"].iloc[2]  # duplicate event, same id
    assert df["event_id"].nunique() == 2
    q = quarantine(home, "events")
    assert q["reason"].tolist() == ["bad timestamp 'not-a-timestamp' in event_at"]
