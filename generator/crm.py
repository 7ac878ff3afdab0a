"""CRM snapshot writers: HubSpot companies / contacts / deals, Salesforce leads, NPS survey.

They run after the daily simulation (the snapshot date is 2025-01-01) and write in chunks.
Every writer adds exact duplicate rows and deliberately bad extra rows, counted in stats.
"""

from __future__ import annotations

import numpy as np

from generator import reference as ref
from generator.b2b import Funnel
from generator.common import (
    DAY,
    NO_DATE,
    T_SNAPSHOT,
    FileStats,
    Output,
    csv_text,
    interleave,
    iso8601,
    iso_date,
    iso_local,
    us_date,
    us_datetime,
)
from generator.shop import Customers
from generator.world import B2G, HYBRID, Accounts, Contacts

PORTAL_TZ = "America/New_York"
SALESFORCE_TZ = "America/Los_Angeles"
CHUNK = 20_000
DUPLICATE_SHARE = 0.002
BAD_SHARE = 0.001
HUBSPOT_SOURCE = {
    "Paid Search": "Paid Search", "Paid Social": "Paid Social", "Organic Search": "Organic Search",
    "Web": "Direct Traffic", "Email": "Email Marketing", "Referral": "Referrals",
    "Event": "Offline Sources", "Partner": "Other Campaigns",
}  # fmt: skip


def _mess(rng, rows: list[list[str]], stats: FileStats, corrupt) -> list[list[str]]:
    """Add exact duplicates and bad rows (``corrupt(row, k) -> reason``) at random positions."""
    n = len(rows)
    dup_idx = np.flatnonzero(rng.random(n) < DUPLICATE_SHARE).tolist()
    extras = [list(rows[i]) for i in dup_idx]
    stats.duplicate_rows += len(extras)
    n_bad = max(2, int(rng.binomial(n, BAD_SHARE))) if n else 0
    for k in range(n_bad):
        row = list(rows[int(rng.integers(n))])
        stats.add_bad(corrupt(row, k))
        extras.append(row)
    order = rng.permutation(len(extras))
    out = interleave(rows, [extras[i] for i in order.tolist()], rng)
    stats.data_rows += len(out)
    return out


def _write(out: Output, rel: str, header: str, chunks, **csv_options) -> None:
    newline = "\r\n" if csv_options.get("crlf") else "\n"
    with open(out.path(rel), "w", encoding="utf-8", newline="") as f:
        f.write(header + newline)
        for rows in chunks:
            f.write(csv_text(rows, **csv_options))


def _modified(rng, created: np.ndarray) -> np.ndarray:
    span = np.maximum(T_SNAPSHOT - 60 - created, 0)
    return created + (rng.random(len(created)) * span).astype(np.int64)


# -- companies ---------------------------------------------------------------------------


def write_companies(out: Output, rng, acc: Accounts, funnel: Funnel) -> None:
    rel = "crm/hubspot/hubspot-crm-exports-all-companies-2025-01-01.csv"
    stats = out.stats(rel, "accounts", "hubspot_companies")
    n = len(acc)
    leads = funnel.leads
    first_lead = np.full(n, T_SNAPSHOT, dtype=np.int64)
    if leads["account"]:
        np.minimum.at(first_lead, np.array(leads["account"]), np.array(leads["created"]))
    created = np.minimum(acc.created_at, first_lead - (rng.random(n) * 30 * DAY).astype(np.int64))
    won = np.zeros(n, bool)
    has_opp = np.zeros(n, bool)
    for deal in funnel.deals:
        has_opp[deal.account] = True
        won[deal.account] |= deal.won
    stage = np.where(won, "Customer", np.where(has_opp, "Opportunity",
                     np.where(first_lead < T_SNAPSHOT, "Lead", "Other")))  # fmt: skip
    label_pick = rng.random(n)
    labels = [
        "" if p < 0.35 else ("B2G" if k == B2G else ("B2B" if k != HYBRID or p < 0.7 else "B2C"))
        for k, p in zip(acc.kind.tolist(), label_pick.tolist(), strict=False)
    ]
    created_s = iso_local(created, PORTAL_TZ, seconds=False)
    modified_s = iso_local(_modified(rng, created), PORTAL_TZ, seconds=False)
    spelling = rng.integers(0, 10, n)
    emp_blank = rng.random(n) < 0.04
    rev_blank = (rng.random(n) < 0.15) | (acc.kind == B2G) & (rng.random(n) < 0.5)
    rows = []
    for i in range(n):
        c = ref.COUNTRIES[acc.country[i]]
        country = c.crm_spellings[0 if spelling[i] < 7 else spelling[i] % len(c.crm_spellings)]
        city, state = c.cities[acc.city[i]]
        rows.append([
            str(acc.record_id[i]), acc.name[i], acc.domain[i], acc.industry_text[i],
            "" if emp_blank[i] else str(acc.employees[i]),
            "" if rev_blank[i] else f"{acc.revenue[i]:.0f}", country, state, city, labels[i],
            str(acc.record_id[acc.parent[i]]) if acc.parent[i] >= 0 else "", acc.technologies[i],
            created_s[i], modified_s[i], ref.SALES_REPS[funnel.owner_of[i]], str(stage[i]),
        ])  # fmt: skip

    def corrupt(row, k):
        kind = k % 3
        if kind == 0:
            row[0] = ""
            return "missing_id"
        row[0] = str(8_000_000_001 + 2 * int(rng.integers(10**8)))  # a fresh id, never referenced
        if kind == 1:
            row[12] = "2024-13-45 25:61"
            return "bad_date"
        row[4] = ("fifty", "approx. 200", "a few")[int(rng.integers(3))]  # not a null token
        return "bad_number"

    rows = _mess(rng, rows, stats, corrupt)
    header = (
        "Record ID,Company name,Company Domain Name,Industry,Number of Employees,Annual Revenue,"
        "Country/Region,State/Region,City,Customer Type,Parent Company ID,Web Technologies,"
        "Create Date,Last Modified Date,Company owner,Lifecycle Stage"
    )
    _write(out, rel, header, _chunks(rows))


def _chunks(rows: list, size: int = CHUNK):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


# -- contacts ----------------------------------------------------------------------------

LIFECYCLE_RANK = ("Subscriber", "Lead", "Marketing Qualified Lead", "Sales Qualified Lead",
                  "Opportunity", "Customer")  # fmt: skip


def write_contacts(out, rng, acc: Accounts, con: Contacts, cust: Customers, funnel: Funnel) -> None:
    rel = "crm/hubspot/hubspot-crm-exports-all-contacts-2025-01-01.csv"
    stats = out.stats(rel, "contacts", "hubspot_contacts")
    n = len(con)
    leads = funnel.leads
    rank = np.zeros(n, dtype=np.int64)
    first_lead = np.full(n, T_SNAPSHOT, dtype=np.int64)
    source = [""] * n
    if leads["contact"]:
        lc = np.array(leads["contact"])
        stage_rank = (
            1 + np.array(leads["mql"]) + np.array(leads["sql"]) + np.array(leads["converted"])
        )
        np.maximum.at(rank, lc, stage_rank)
        np.minimum.at(first_lead, lc, np.array(leads["created"]))
        for c, s in zip(reversed(leads["contact"]), reversed(leads["source"]), strict=False):
            source[c] = HUBSPOT_SOURCE[s]  # the earliest lead wins
    for deal in funnel.deals:
        if deal.won:
            rank[deal.contacts[0]] = 5
    slot_of = np.full(n, -1, dtype=np.int64)
    slot_of[cust.contact] = np.arange(len(cust.contact))
    acquired = np.zeros(n, bool)
    acquired_slots = cust.contact[: cust.n_acquired]
    acquired[acquired_slots] = True
    rank[acquired] = 5
    first_order = np.full(n, T_SNAPSHOT, dtype=np.int64)
    first_order[acquired_slots] = np.where(
        cust.first_order_ts[: cust.n_acquired] > 0,
        cust.first_order_ts[: cust.n_acquired],
        T_SNAPSHOT,
    )
    for slot in range(cust.n_acquired):
        source[cust.contact[slot]] = cust.acquired_channel[slot] or "Offline Sources"
    created = np.minimum.reduce([
        con.created_at, first_lead - (rng.random(n) * 3 * DAY).astype(np.int64),
        first_order - (rng.random(n) * 2 * DAY).astype(np.int64),
    ])  # fmt: skip
    created_s = iso_local(created, PORTAL_TZ, seconds=False)
    modified_s = iso_local(_modified(rng, created), PORTAL_TZ, seconds=False)
    known_birth = con.birth_date != NO_DATE
    birth = iso_date(np.where(known_birth, con.birth_date, 0))
    genders = ("Female", "Male", "Non-binary")
    mixed_case = rng.random(n) < 0.02
    rows = []
    for i in range(n):
        a = con.account[i]
        fn, g = ref.FIRST_NAMES[con.first[i]]
        c = ref.COUNTRIES[con.country[i]]
        email = con.email[i].title() if mixed_case[i] else con.email[i]
        companies = "" if a < 0 else str(acc.record_id[a])
        if con.account2[i] >= 0:
            companies += f";{acc.record_id[con.account2[i]]}"
        gender = genders[{"F": 0, "M": 1, "X": 2}[g]] if con.gender_known[i] else ""
        stage = LIFECYCLE_RANK[rank[i]] if rank[i] or a < 0 else "Other"
        rows.append([
            str(con.record_id[i]), fn, ref.LAST_NAMES[con.last[i]], email, con.phone[i],
            con.job_title[i], acc.name[a] if a >= 0 else "", companies,
            c.crm_spellings[0], c.cities[con.city[i]][0],
            birth[i] if known_birth[i] else "", gender, stage,
            source[i] or ("Direct Traffic" if a < 0 else "Offline Sources"), created_s[i],
            modified_s[i], str(cust.customer_id[slot_of[i]]) if acquired[i] else "",
        ])  # fmt: skip

    def corrupt(row, k):
        if k % 2 == 0:
            row[0] = ""
            return "missing_id"
        row[0] = str(40_000_000_001 + 2 * int(rng.integers(10**8)))
        row[14] = ("31/02/2024 10:00", "yesterday", "2024-02-30 10:00")[int(rng.integers(3))]
        return "bad_date"

    rows = _mess(rng, rows, stats, corrupt)
    header = (
        "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Company Name,"
        "Associated Company IDs,Country/Region,City,Date of birth,Gender,Lifecycle Stage,"
        "Original Source,Create Date,Last Modified Date,Shopify Customer ID"
    )
    _write(out, rel, header, _chunks(rows))


# -- deals -------------------------------------------------------------------------------


def write_deals(out: Output, rng, acc: Accounts, con: Contacts, funnel: Funnel) -> None:
    rel = "crm/hubspot/hubspot-crm-exports-all-deals-2025-01-01.csv"
    stats = out.stats(rel, "opportunities", "hubspot_deals")
    deals = funnel.deals
    if not deals:
        _write(out, rel, DEALS_HEADER, [])
        return
    created = np.array([d.created for d in deals], dtype=np.int64)
    close = np.array([d.close for d in deals], dtype=np.int64)
    modified = np.minimum(
        np.maximum(created, np.minimum(close, T_SNAPSHOT - 3600)) + 3600, T_SNAPSHOT - 60
    )
    created_s = iso_local(created, PORTAL_TZ, seconds=False)
    close_s = iso_local(close, PORTAL_TZ, seconds=False)
    modified_s = iso_local(modified, PORTAL_TZ, seconds=False)
    start_s = iso_date(np.array([max(d.contract_start, 0) for d in deals]))
    end_s = iso_date(np.array([max(d.contract_end, 0) for d in deals]))
    no_company = rng.random(len(deals)) < 0.01
    rows = []
    for k, d in enumerate(deals):
        amount = funnel.amount(d)
        services = d.deal_type == "Professional Services"
        acv = "" if services else f"{amount / (d.term_months / 12):.2f}"
        name = f"{acc.name[d.account]} - " + {
            "New Business": d.product, "Renewal": f"Renewal {start_s[k][:4]}",
            "Upsell": f"{d.product} upsell", "Professional Services": "Implementation",
        }[d.deal_type]  # fmt: skip
        has_contract = d.contract_start >= 0
        rows.append([
            str(d.record_id), name, "Renewals" if d.deal_type == "Renewal" else "Sales Pipeline",
            d.stage, f"{amount:.2f}", funnel.currency(d.account), acv, close_s[k], created_s[k],
            modified_s[k], d.deal_type, start_s[k] if has_contract else "",
            end_s[k] if has_contract else "", str(d.term_months),
            str(deals[d.renewal_of].record_id) if d.renewal_of >= 0 else "", d.product, d.source,
            str(len(d.contacts)), d.owner, "" if no_company[k] else str(acc.record_id[d.account]),
            ";".join(str(con.record_id[c]) for c in d.contacts),
        ])  # fmt: skip

    def corrupt(row, k):
        row[0] = str(15_000_000_001 + 2 * int(rng.integers(10**8)))
        if k % 2 == 0:
            row[4] = "TBD"
            return "bad_number"
        row[8] = "not a date"
        return "bad_date"

    rows = _mess(rng, rows, stats, corrupt)
    _write(out, rel, DEALS_HEADER, _chunks(rows))


DEALS_HEADER = (
    "Record ID,Deal Name,Pipeline,Deal Stage,Amount,Currency,Annual contract value,Close Date,"
    "Create Date,Last Modified Date,Deal Type,Contract Start Date,Contract End Date,"
    "Contract Term (months),Renewal of Deal ID,Product,Original Source,"
    "Number of Associated Contacts,Deal owner,Associated Company IDs,Associated Contact IDs"
)

# -- Salesforce leads --------------------------------------------------------------------

LEADS_HEADER = (
    '"Lead ID","First Name","Last Name","Title","Company / Account","Email","Lead Source",'
    '"Lead Status","Industry","No. of Employees","Country","Lead Type","UTM Source","UTM Medium",'
    '"UTM Campaign","Create Date","MQL Date","SQL Date","Converted","Converted Date",'
    '"Converted Account ID","Converted Contact ID","Converted Opportunity ID","Last Modified Date"'
)
SALESFORCE_FOOTER = (
    '""\r\n""\r\n"Confidential Information - Do Not Distribute"\r\n'
    '"Copyright (c) 2000-2025 salesforce.com, inc. All rights reserved."\r\n""\r\n'
)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def salesforce_id(prefix: str, n: int) -> str:
    digits = []
    for _ in range(7):
        n, r = divmod(n, 62)
        digits.append(_B62[r])
    return f"{prefix}5g000{''.join(reversed(digits))}IAA"


def write_leads(out: Output, rng, acc: Accounts, con: Contacts, funnel: Funnel) -> None:
    from generator.b2b import LEAD_TYPES

    rel = "crm/salesforce/report1735689600000.csv"
    stats = out.stats(rel, "leads", "salesforce_leads_report")
    L = funnel.leads
    n = len(L["created"])
    created = np.array(L["created"], dtype=np.int64)
    mql_at, sql_at, conv_at = (
        np.array(L[k], dtype=np.int64) for k in ("mql_at", "sql_at", "converted_at")
    )
    created_s = us_datetime(created, SALESFORCE_TZ)
    mql_s, sql_s, conv_s = (us_date(a, SALESFORCE_TZ) for a in (mql_at, sql_at, conv_at))
    last = np.where(
        L["converted"], conv_at, np.where(L["sql"], sql_at, np.where(L["mql"], mql_at, created))
    )
    modified_s = us_datetime(np.minimum(last + 3600, T_SNAPSHOT - 60), SALESFORCE_TZ)
    pick = rng.random((n, 4))
    rows = []
    for i in range(n):
        c, a = L["contact"][i], L["account"][i]
        age = (T_SNAPSHOT - created[i]) / DAY
        if L["converted"][i]:
            status = "Closed - Converted"
        elif L["mql"][i]:
            status = "Closed - Not Converted" if age > 120 else "Working - Contacted"
        else:
            status = (
                ("Closed - Not Converted" if pick[i, 0] < 0.5 else "Nurturing")
                if age > 60
                else "Open - Not Contacted"
            )
        company = acc.name[a]
        if pick[i, 1] < 0.2:
            company = company.rsplit(" ", 1)[0]
        elif pick[i, 1] < 0.25:
            company = company.lower()
        industry = acc.industry_text[a]
        if acc.industry[a] >= 0 and pick[i, 2] < 0.3:
            spellings = ref.INDUSTRIES[acc.industry[a]][2]
            industry = spellings[int(pick[i, 2] * 100) % len(spellings)]
        country = ref.COUNTRIES[acc.country[a]]
        utm = L["utm"][i] or ("", "", "")
        opp = L["opportunity"][i]
        conv = L["converted"][i]
        rows.append([
            salesforce_id("00Q", i + 1), ref.FIRST_NAMES[con.first[c]][0], ref.LAST_NAMES[con.last[c]],
            con.job_title[c], company, con.email[c], L["source"][i], status, industry,
            "" if pick[i, 3] < 0.3 else str(acc.employees[a]),
            country.crm_spellings[int(pick[i, 3] * 10) % len(country.crm_spellings)],
            LEAD_TYPES[L["lead_type"][i]], *utm, created_s[i],
            mql_s[i] if L["mql"][i] else "", sql_s[i] if L["sql"][i] else "", "1" if conv else "0",
            conv_s[i] if conv else "", str(acc.record_id[a]) if conv else "",
            str(con.record_id[c]) if conv else "",
            str(funnel.deals[opp].record_id) if conv and opp >= 0 else "", modified_s[i],
        ])  # fmt: skip

    def corrupt(row, k):
        if k % 2 == 0:
            row[0] = ""
            return "missing_id"
        row[0] = salesforce_id("00Q", 50_000_000 + int(rng.integers(10**7)))
        row[15] = "not a date"
        return "bad_date"

    rows = _mess(rng, rows, stats, corrupt)
    with open(out.path(rel), "w", encoding="utf-8", newline="") as f:
        f.write(LEADS_HEADER + "\r\n")
        for chunk in _chunks(rows):
            f.write(csv_text(chunk, quote_all=True, crlf=True))
        f.write(SALESFORCE_FOOTER)


# -- NPS ---------------------------------------------------------------------------------

NPS_HEADER = (
    "Response ID,Person ID,Email,Name,Score,Comment,Created At,Survey,contact_id,customer_id,"
    "company_id"
)


def write_nps(out, rng, acc: Accounts, con: Contacts, cust: Customers, funnel: Funnel,
              purchases: list[tuple[int, int, bool]]) -> None:  # fmt: skip
    """``purchases``: (customer slot, order time, had a return) of surveyed orders."""
    rel = "crm/nps/delighted-responses-2025-01-01.csv"
    stats = out.stats(rel, "nps_responses", "delighted_nps")
    records = []  # (ts, contact, slot, account, score)
    for slot, ts, returned in purchases:
        t = ts + int(rng.uniform(7, 14) * DAY)
        if t < T_SNAPSHOT:
            p = [0.05, 0.02, 0.03, 0.03, 0.05, 0.07, 0.1, 0.2, 0.2, 0.15, 0.1]
            score = int(rng.choice(11, p=p)) if not returned else int(rng.integers(0, 8))
            records.append((t, int(cust.contact[slot]), slot, -1, score))
    customers_since: dict[int, int] = {}
    for d in funnel.deals:
        if d.won:
            customers_since[d.account] = min(customers_since.get(d.account, d.close), d.close)
    quarters = [int(np.datetime64(f"{y}-{m:02d}-15", "s").astype(np.int64)) for y in (2023, 2024)
                for m in (3, 6, 9, 12)]  # fmt: skip
    for a, since in sorted(customers_since.items()):
        people = range(int(funnel._first[a]), int(funnel._end[a]))
        for q in quarters:
            if q < since:
                continue
            for c in list(people)[:3]:
                if rng.random() < 0.3:
                    base = 8.2 if acc.employees[a] > 1000 else 7.4
                    score = int(np.clip(round(rng.normal(base, 1.8)), 0, 10))
                    records.append((q + int(rng.integers(0, 7 * DAY)), c, -1, a, score))
    records.sort()
    n = len(records)
    ts = np.array([r[0] for r in records], dtype=np.int64)
    offsets = np.array(
        [ref.COUNTRIES[con.country[r[1]]].offset_minutes for r in records], dtype=np.int64
    )
    offsets = np.where(rng.random(n) < 0.5, 0, offsets)
    created_s = iso8601(ts, offsets)
    comment_p = rng.random(n)
    rows = []
    for k, (_, c, slot, a, score) in enumerate(records):
        tone = "promoter" if score >= 9 else ("passive" if score >= 7 else "detractor")
        comments = ref.NPS_COMMENTS[tone]
        comment = comments[int(comment_p[k] * 1000) % len(comments)] if comment_p[k] < 0.4 else ""
        rows.append([
            str(300_000_001 + k), str(9_100_000 + c), con.email[c],
            f"{ref.FIRST_NAMES[con.first[c]][0]} {ref.LAST_NAMES[con.last[c]]}", str(score), comment,
            created_s[k], "Post-purchase NPS" if slot >= 0 else "B2B relationship NPS",
            str(con.record_id[c]), str(cust.customer_id[slot]) if slot >= 0 else "",
            str(acc.record_id[a]) if a >= 0 else "",
        ])  # fmt: skip

    def corrupt(row, k):
        row[0] = str(200_000_001 + int(rng.integers(10**8)))
        if k % 2 == 0:
            row[4] = ("11", "-1", "ten")[k // 2 % 3]
            return "bad_number" if row[4] == "ten" else "out_of_range"
        row[6] = ""
        return "missing_required"

    rows = _mess(rng, rows, stats, corrupt)
    _write(out, rel, NPS_HEADER, _chunks(rows), crlf=True)
