"""B2B funnel: leads (from web sessions or offline), MQL → SQL → opportunity, deals.

A lead's whole future is drawn when it is created (its MQL / SQL / conversion dates and,
when converted, its new-business opportunity). After the daily simulation,
:meth:`Funnel.finish` adds the installed base (deals won before the window), renewals,
upsells and service deals, and assigns HubSpot ids in creation order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from generator import reference as ref
from generator.common import DAY, T0, T_SNAPSHOT, USD_RATE
from generator.world import B2B, B2G, HYBRID, Accounts, Contacts

LEAD_TYPES = ("Demo Request", "Content Download", "Contact Form", "Webinar", "Contact Sales")
LEAD_TYPE_P = (0.3, 0.35, 0.2, 0.1, 0.05)
LEAD_TYPE_MQL = (0.85, 0.35, 0.5, 0.45, 0.9)
OPEN_STAGES = (
    "Appointment Scheduled",
    "Qualified To Buy",
    "Presentation Scheduled",
    "Decision Maker Bought-In",
    "Contract Sent",
)
PRODUCTS = ("Segmart Starter", "Segmart Growth", "Segmart Enterprise")


@dataclass
class Deal:
    account: int
    contacts: list[int]
    deal_type: str  # New Business, Renewal, Upsell, Professional Services
    created: int
    close: int  # actual close if closed, else expected close
    closed: bool
    won: bool
    stage: str
    amount_usd: float
    term_months: int
    product: str
    source: str
    owner: str
    renewal_of: int = -1  # index into Funnel.deals
    contract_start: int = -1
    contract_end: int = -1
    record_id: int = 0


@dataclass
class Funnel:
    rng: np.random.Generator
    accounts: Accounts
    contacts: Contacts
    leads: dict[str, list] = field(default_factory=lambda: {k: [] for k in LEAD_FIELDS})
    deals: list[Deal] = field(default_factory=list)

    def __post_init__(self):
        n_b2b = self.contacts.n_b2b
        acc = self.contacts.account[:n_b2b]
        self._first = np.searchsorted(acc, np.arange(len(self.accounts)))
        self._end = np.searchsorted(acc, np.arange(len(self.accounts)), side="right")
        w = self.accounts.fit[acc] * np.where(self.accounts.kind[acc] == HYBRID, 1.5, 1.0)
        self._person_p = w / w.sum()
        self.owner_of = self.rng.integers(len(ref.SALES_REPS), size=len(self.accounts))

    def pick_people(self, n: int) -> np.ndarray:
        """B2B contacts (indices) who become leads."""
        return self.rng.choice(self.contacts.n_b2b, size=n, p=self._person_p)

    def add_leads(self, ts: np.ndarray, people: np.ndarray, source: list[str], utm: list) -> list:
        """Create leads at ``ts``; returns their lead types (for the web events)."""
        rng, acc = self.rng, self.accounts
        n = len(ts)
        account = self.contacts.account[people]
        types = rng.choice(len(LEAD_TYPES), size=n, p=LEAD_TYPE_P)
        fit = acc.fit[account]
        p_mql = np.minimum(0.95, np.array(LEAD_TYPE_MQL)[types] * fit)
        mql = rng.random(n) < p_mql
        sql = mql & (rng.random(n) < np.minimum(0.95, 0.4 * fit))
        conv = sql & (rng.random(n) < 0.6)
        mql_at = ts + (rng.exponential(3, n) * DAY).astype(np.int64)
        sql_at = mql_at + (rng.exponential(7, n) * DAY).astype(np.int64)
        conv_at = sql_at + (rng.exponential(5, n) * DAY).astype(np.int64)
        mql &= mql_at < T_SNAPSHOT
        sql &= mql & (sql_at < T_SNAPSHOT)
        conv &= sql & (conv_at < T_SNAPSHOT)
        opp = np.full(n, -1, dtype=np.int64)
        for i in np.flatnonzero(conv).tolist():
            opp[i] = len(self.deals)
            self.deals.append(
                self._new_deal(int(account[i]), int(people[i]), int(conv_at[i]), source[i])
            )
        values = dict(
            contact=people, account=account, created=ts, lead_type=types, mql=mql, mql_at=mql_at,
            sql=sql, sql_at=sql_at, converted=conv, converted_at=conv_at, opportunity=opp,
        )  # fmt: skip
        for key, value in values.items():
            self.leads[key].extend(np.asarray(value).tolist())
        self.leads["source"].extend(source)
        self.leads["utm"].extend(utm)
        return [LEAD_TYPES[t] for t in types.tolist()]

    # -- deals ---------------------------------------------------------------------------

    def _involved(self, account: int, primary: int) -> list[int]:
        first, end = int(self._first[account]), int(self._end[account])
        others = [c for c in range(first, end) if c != primary]
        kind = self.accounts.kind[account]
        want = (
            0
            if kind == HYBRID
            else int(self.rng.poisson(np.log10(self.accounts.employees[account] + 1)))
        )
        if kind == B2G:
            want += 1
        picked = self.rng.permutation(others)[:want].tolist() if others else []
        return [primary, *picked]

    def _acv_usd(self, account: int) -> tuple[float, int, str]:
        rng, acc = self.rng, self.accounts
        kind, emp = acc.kind[account], acc.employees[account]
        if kind == HYBRID:
            return float(np.exp(rng.normal(np.log(1200), 0.5))), 12, PRODUCTS[0]
        if kind == B2G:
            term = int(rng.choice([12, 24, 36], p=[0.3, 0.3, 0.4]))
            return float(np.exp(rng.normal(np.log(60_000), 0.6))), term, PRODUCTS[2]
        acv = float(np.exp(rng.normal(np.log(8000 * (emp / 100) ** 0.4), 0.5)))
        term = int(rng.choice([12, 24, 36], p=[0.6, 0.25, 0.15]))
        return acv, term, PRODUCTS[1] if acv < 40_000 else PRODUCTS[2]

    def _cycle_days(self, account: int) -> float:
        kind, emp = self.accounts.kind[account], self.accounts.employees[account]
        median = {HYBRID: 12, B2B: 45 + 30 * np.log10(emp + 1), B2G: 160}[int(kind)]
        return float(np.exp(self.rng.normal(np.log(median), 0.45)))

    def _win_p(self, account: int) -> float:
        kind = int(self.accounts.kind[account])
        return min(0.9, {HYBRID: 0.45, B2B: 0.28, B2G: 0.22}[kind] * self.accounts.fit[account])

    def _new_deal(self, account: int, contact: int, created: int, source: str) -> Deal:
        acv, term, product = self._acv_usd(account)
        close = created + int(self._cycle_days(account) * DAY)
        deal = Deal(
            account=account, contacts=self._involved(account, contact), deal_type="New Business",
            created=created, close=close, closed=False, won=False, stage="", amount_usd=acv * term / 12,
            term_months=term, product=product, source=source,
            owner=ref.SALES_REPS[self.owner_of[account]],
        )  # fmt: skip
        self._settle(deal, self._win_p(account))
        return deal

    def _settle(self, deal: Deal, p_win: float) -> None:
        """Decide stage / outcome as seen on the snapshot date, and the contract dates."""
        rng = self.rng
        if deal.close <= T_SNAPSHOT:
            deal.closed = True
            deal.won = bool(rng.random() < p_win)
            deal.stage = "Closed Won" if deal.won else "Closed Lost"
        else:
            progress = (T_SNAPSHOT - deal.created) / max(1, deal.close - deal.created)
            deal.stage = OPEN_STAGES[min(4, int(progress * 5))]
        if deal.won or not deal.closed:
            months = deal.term_months
            deal.contract_start = (deal.close // DAY + int(rng.integers(0, 15))) * DAY
            deal.contract_end = deal.contract_start + int(round(months * 30.4375)) * DAY - DAY

    def finish(self) -> None:
        """Installed base, renewals, upsells, services; then ids in creation order."""
        rng, acc = self.rng, self.accounts
        base = np.flatnonzero((acc.kind != HYBRID) & (rng.random(len(acc)) < 0.08))
        for a in base.tolist():
            created = T0 - int(rng.uniform(100, 730)) * DAY
            first = int(self._first[a])
            deal = self._new_deal(a, first, created, "Offline Sources")
            if not deal.won:  # the installed base are customers by definition
                deal.won, deal.stage, deal.closed = True, "Closed Won", True
                deal.close = min(deal.close, T0 - DAY)
                self._settle_contract(deal)
            self.deals.append(deal)
        i = 0
        while i < len(self.deals):  # the list grows while we walk it
            deal = self.deals[i]
            if deal.won and deal.deal_type != "Professional Services":
                self._spawn(i, deal)
            i += 1
        order = sorted(range(len(self.deals)), key=lambda k: (self.deals[k].created, k))
        new_index = {old: new for new, old in enumerate(order)}
        self.deals = [self.deals[k] for k in order]
        for k, deal in enumerate(self.deals):
            deal.record_id = 16_000_000_001 + k * 11
            if deal.renewal_of >= 0:
                deal.renewal_of = new_index[deal.renewal_of]
        self.leads["opportunity"] = [
            new_index[o] if o >= 0 else -1 for o in self.leads["opportunity"]
        ]

    def _settle_contract(self, deal: Deal) -> None:
        deal.contract_start = (deal.close // DAY + 1) * DAY
        deal.contract_end = deal.contract_start + int(round(deal.term_months * 30.4375)) * DAY - DAY

    def _spawn(self, i: int, deal: Deal) -> None:
        rng = self.rng
        created = deal.contract_end - 90 * DAY
        if created < T_SNAPSHOT:
            renewal = Deal(
                account=deal.account, contacts=deal.contacts[:2], deal_type="Renewal",
                created=created, close=deal.contract_end - int(rng.uniform(0, 30)) * DAY,
                closed=False, won=False, stage="", amount_usd=deal.amount_usd * rng.uniform(1.0, 1.12),
                term_months=deal.term_months, product=deal.product, source="Existing Customer",
                owner=deal.owner, renewal_of=i,
            )  # fmt: skip
            self._settle(renewal, 0.8)
            self.deals.append(renewal)
        if deal.deal_type in ("New Business", "Renewal") and rng.random() < 0.2:
            created = deal.contract_start + int(rng.uniform(90, 270)) * DAY
            if created < T_SNAPSHOT:
                upsell = Deal(
                    account=deal.account, contacts=deal.contacts[:1], deal_type="Upsell",
                    created=created, close=created + int(np.exp(rng.normal(np.log(30), 0.4)) * DAY),
                    closed=False, won=False, stage="", amount_usd=deal.amount_usd * rng.uniform(0.15, 0.4),
                    term_months=12, product=deal.product, source="Existing Customer", owner=deal.owner,
                )  # fmt: skip
                self._settle(upsell, 0.5)
                self.deals.append(upsell)
        if deal.deal_type == "New Business" and rng.random() < 0.25:
            created = deal.close + int(rng.uniform(0, 14)) * DAY
            if created < T_SNAPSHOT:
                service = Deal(
                    account=deal.account, contacts=deal.contacts[:1], deal_type="Professional Services",
                    created=created, close=created + int(rng.uniform(5, 20)) * DAY, closed=False,
                    won=False, stage="", amount_usd=float(rng.uniform(5_000, 50_000)),
                    term_months=int(rng.integers(1, 7)), product="Implementation Services",
                    source="Existing Customer", owner=deal.owner,
                )  # fmt: skip
                self._settle(service, 0.85)
                self.deals.append(service)

    def currency(self, account: int) -> str:
        return ref.COUNTRIES[self.accounts.country[account]].deal_currency

    def amount(self, deal: Deal) -> float:
        rate = USD_RATE[self.currency(deal.account)]
        return float(round(deal.amount_usd / rate, -1 if deal.amount_usd < 10_000 else -2))


LEAD_FIELDS = (
    "contact", "account", "created", "lead_type", "mql", "mql_at", "sql", "sql_at", "converted",
    "converted_at", "opportunity", "source", "utm",
)  # fmt: skip
