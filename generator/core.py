"""``generate()``: simulate the demo world day by day and write its vendor exports.

Causality of the world: ad campaigns buy clicks → clicks start web sessions (UTM tags, click
ids) → sessions end in orders (B2C, GA4 ``purchase`` with the order's id) or leads (B2B)
→ leads become opportunities and deals. Days are simulated in order; each day's events are
written at once and each month's orders and ad reports at the month's end, so memory stays
bounded by the entity tables (accounts, contacts, leads, deals), not by events or orders.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator import ads as ads_mod
from generator import crm
from generator import reference as ref
from generator.b2b import Funnel
from generator.common import (
    DAY,
    N_DAYS,
    USD_RATE,
    WINDOW_END,
    WINDOW_START,
    Output,
    months,
)
from generator.shop import CHANNEL_WEIGHTS, CHANNELS, Shop
from generator.web import (
    DIRECT,
    EMAIL,
    ORGANIC,
    PAID,
    REFERRAL,
    SOCIAL,
    UNPAID_DAILY,
    Session,
    Web,
)
from generator.world import make_accounts, make_contacts

VERSION = 1
ORDERS_PER_DAY = 100_000 / N_DAYS
LEADS_PER_DAY = 20_000 / N_DAYS
OFFLINE_LEAD_SHARE = 0.1
NPS_SURVEY_SHARE = 0.12
# weights of session channels for the sessions that end in a purchase / a lead
PURCHASE_W = {
    "b2c": 3.0,
    "b2b": 0.3,
    ORGANIC: 1.5,
    DIRECT: 2.0,
    EMAIL: 3.0,
    REFERRAL: 1.0,
    SOCIAL: 1.0,
}
LEAD_W = {
    "b2c": 0.15,
    "b2b": 6.0,
    ORGANIC: 1.5,
    DIRECT: 1.0,
    EMAIL: 2.0,
    REFERRAL: 2.0,
    SOCIAL: 0.5,
}
BROWSE_CUSTOMER_SHARE = 0.3
Progress = Callable[..., None]


@dataclass
class GenerateReport:
    """Files written (relative path → data rows) and where."""

    out_dir: Path
    scale: float
    seed: int
    files: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.files.values())

    def __str__(self) -> str:
        return f"{len(self.files)} files, {self.total_rows:,} rows (scale {self.scale:g}, seed {self.seed})"


def generate(
    out_dir: Path | str, scale: float = 1.0, seed: int = 42, progress: Progress | None = None
) -> GenerateReport:
    """Write the deterministic demo landing folder; same ``(seed, scale)`` → same bytes."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    started = time.perf_counter()
    out = Output(Path(out_dir))
    out.root.mkdir(parents=True, exist_ok=True)
    Simulation(out, scale, seed, progress).run()
    _write_expected(out, scale, seed)
    files = {rel: s.data_rows for rel, s in sorted(out.files.items())}
    return GenerateReport(out.root, scale, seed, files, time.perf_counter() - started)


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generator per part of the world, so parts do not shift each other."""
    return np.random.default_rng([seed, stream])


class Simulation:
    def __init__(self, out: Output, scale: float, seed: int, progress: Progress | None):
        self.out, self.scale, self.progress = out, scale, progress
        n_accounts = max(20, round(5_000 * scale))
        n_contacts = max(4 * n_accounts, round(50_000 * scale))
        self.accounts = make_accounts(_rng(seed, 1), n_accounts)
        self.contacts = make_contacts(_rng(seed, 2), self.accounts, n_contacts)
        self.shop = Shop(_rng(seed, 3), self.accounts, self.contacts)
        self.funnel = Funnel(_rng(seed, 4), self.accounts, self.contacts)
        self.ads = ads_mod.AdDelivery(_rng(seed, 5), scale)
        self.web = Web(_rng(seed, 6), out, self.shop.customers.customer_id)
        self.rng = _rng(seed, 7)
        self.crm_rng = _rng(seed, 8)
        self.surveyed: list[tuple[int, int, bool]] = []

    def run(self) -> None:
        day = 0
        for y, m in months():
            for _ in range(calendar.monthrange(y, m)[1]):
                self.simulate_day(day)
                day += 1
                self._report(
                    day,
                    N_DAYS + 6,
                    f"{WINDOW_START.fromordinal(WINDOW_START.toordinal() + day - 1)}",
                )
            ads_mod.write_month(self.out, self.ads, y, m)
            self.shop.write_month(self.out)
        self.web.finish(N_DAYS)
        self.funnel.finish()
        steps = (
            ("companies", lambda r: crm.write_companies(self.out, r, self.accounts, self.funnel)),
            ("contacts", lambda r: crm.write_contacts(
                self.out, r, self.accounts, self.contacts, self.shop.customers, self.funnel)),
            ("deals", lambda r: crm.write_deals(self.out, r, self.accounts, self.contacts, self.funnel)),
            ("leads", lambda r: crm.write_leads(self.out, r, self.accounts, self.contacts, self.funnel)),
            ("nps", lambda r: crm.write_nps(self.out, r, self.accounts, self.contacts,
                                            self.shop.customers, self.funnel, self.surveyed)),
        )  # fmt: skip
        for k, (name, step) in enumerate(steps):
            self._report(N_DAYS + k + 1, N_DAYS + 6, f"CRM {name}")
            step(self.crm_rng)
        self._report(N_DAYS + 6, N_DAYS + 6, "done")

    def _report(self, done: int, total: int, note: str) -> None:
        if self.progress is not None:
            self.progress(done, total, note)

    def simulate_day(self, day: int) -> None:
        rng, scale = self.rng, self.scale
        f = float(ads_mod.season(day))
        clicks = self.ads.clicks[:, day]
        paid = rng.binomial(clicks, ads_mod.SESSION_RATE)
        unpaid = {c: int(rng.poisson(v * scale * f)) for c, v in UNPAID_DAILY.items()}
        sessions = self.web.sessions(day, paid, unpaid)

        n_orders = int(rng.poisson(ORDERS_PER_DAY * scale * f))
        channels = rng.choice(len(CHANNELS), size=n_orders, p=CHANNEL_WEIGHTS)
        n_web = int((channels == 0).sum())
        weekday = (WINDOW_START.toordinal() + day) % 7  # 0 = Monday
        n_leads = int(rng.poisson(LEADS_PER_DAY * scale * f * (0.3 if weekday >= 5 else 1.27)))
        n_offline = int(rng.binomial(n_leads, OFFLINE_LEAD_SHARE))
        n_web_leads = n_leads - n_offline
        free = np.ones(len(sessions), bool)
        need = n_web + n_web_leads - len(sessions)
        if need > 0:
            sessions += self.web.extra_direct(day, need)
            free = np.ones(len(sessions), bool)
        buy = self._choose(sessions, free, n_web, PURCHASE_W)
        free[buy] = False
        lead = self._choose(sessions, free, n_web_leads, LEAD_W)
        free[lead] = False

        # orders: web orders happen inside their session, the others during the day
        ts = np.empty(n_orders, dtype=np.int64)
        web_idx = np.flatnonzero(channels == 0)
        ts[web_idx] = [sessions[i].start for i in buy.tolist()] + rng.integers(240, 600, len(buy))
        other = np.flatnonzero(channels != 0)
        day_start = int(np.datetime64(WINDOW_START, "s").astype(np.int64)) + day * DAY
        ts[other] = day_start + 13 * 3600 + rng.integers(0, 11 * 3600, len(other))
        orders = self.shop.make_orders(day, ts, channels, scale)
        surveyed = rng.random(len(orders)) < NPS_SURVEY_SHARE
        for o, asked in zip(orders, surveyed.tolist(), strict=False):
            if asked and o.customer >= 0 and o.channel in ("web", "app"):
                self.surveyed.append((o.customer, o.ts, any(o.returned)))
        customers = self.shop.customers
        for i, o in zip(buy.tolist(), [orders[k] for k in web_idx.tolist()], strict=False):
            s = sessions[i]
            s.kind, s.order, s.customer = "purchase", o, o.customer
            s.logged_in = o.customer >= 0
            s.country = o.country
            s.utm and setattr(o, "utm", s.campaign_utm)
            if (
                o.customer >= 0
                and customers.acquired_day[o.customer] == day
                and not customers.acquired_channel[o.customer]
            ):
                customers.acquired_channel[o.customer] = crm.HUBSPOT_SOURCE.get(
                    s.lead_source, "Direct Traffic"
                )
            if s.channel == PAID:
                self.ads.purchases[s.campaign, day] += 1
                self.ads.revenue_usd[s.campaign, day] += o.subtotal * USD_RATE[o.currency]
        for o in orders:
            if o.customer >= 0 and not customers.acquired_channel[o.customer]:
                customers.acquired_channel[o.customer] = (
                    "Offline Sources" if o.channel == "store" else "Other Campaigns"
                )

        # leads: web leads from their sessions, offline leads (events, partners) during the day
        people = self.funnel.pick_people(n_leads)
        lead_ts = np.empty(n_leads, dtype=np.int64)
        lead_ts[:n_web_leads] = [sessions[i].start for i in lead.tolist()] + rng.integers(
            180, 480, n_web_leads
        )
        lead_ts[n_web_leads:] = day_start + 14 * 3600 + rng.integers(0, 8 * 3600, n_offline)
        sources = [sessions[i].lead_source for i in lead.tolist()]
        sources += ["Event" if u < 0.6 else "Partner" for u in rng.random(n_offline).tolist()]
        utms = [sessions[i].campaign_utm for i in lead.tolist()] + [None] * n_offline
        types = self.funnel.add_leads(lead_ts, people, sources, utms)
        for i, person, lead_type in zip(
            lead.tolist(), people[:n_web_leads].tolist(), types, strict=False
        ):
            s = sessions[i]
            s.kind, s.person, s.lead_type = "lead", person, lead_type
            s.country = int(self.contacts.country[person])
            if s.channel == PAID:
                self.ads.leads[s.campaign, day] += 1

        # everyone else browses: known customers (some logged in), B2B people, anonymous
        rest = np.flatnonzero(free)
        who = rng.random(len(rest)).tolist()
        n_acq = customers.n_acquired
        known = rng.integers(0, max(n_acq, 1), len(rest)).tolist()
        anonymous = rng.choice(len(ref.COUNTRIES), size=len(rest), p=_consumer_p()).tolist()
        prospects = self.funnel.pick_people(len(rest)).tolist()
        share = BROWSE_CUSTOMER_SHARE
        for k, i in enumerate(rest.tolist()):
            s, u = sessions[i], who[k]
            if u < share and n_acq:
                s.customer, s.logged_in = known[k], u < share / 2
                s.country = int(self.contacts.country[customers.contact[s.customer]])
            elif (
                u < share + 0.1
                and s.channel == PAID
                and ref.CAMPAIGNS[s.campaign].audience == "b2b"
            ):
                s.person = prospects[k]
                s.country = int(self.contacts.country[s.person])
            else:
                s.country = anonymous[k]
        self.web.write_day(day, sessions)

    def _choose(
        self, sessions: list[Session], free: np.ndarray, n: int, weights: dict
    ) -> np.ndarray:
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        w = np.array([
            weights[ref.CAMPAIGNS[s.campaign].audience] if s.channel == PAID else weights[s.channel]
            for s in sessions
        ]) * free  # fmt: skip
        return self.rng.choice(len(sessions), size=n, replace=False, p=w / w.sum())


CONSUMER_P = np.array([c.consumer_weight for c in ref.COUNTRIES]) / sum(
    c.consumer_weight for c in ref.COUNTRIES
)


def _consumer_p() -> np.ndarray:
    return CONSUMER_P


def _write_expected(out: Output, scale: float, seed: int) -> None:
    files = {rel: s.as_json() for rel, s in sorted(out.files.items())}
    entities: dict[str, dict[str, int]] = {}
    for s in out.files.values():
        if s.identical_to:
            continue
        e = entities.setdefault(s.entity, {"valid_records": 0})
        e["valid_records"] += s.data_rows - s.duplicate_rows - s.bad_rows
    doc = {
        "generator": {"seed": seed, "scale": scale, "version": VERSION},
        "window": {"start": WINDOW_START.isoformat(), "end": WINDOW_END.isoformat()},
        "files": files,
        "entities": dict(sorted(entities.items())),
    }
    (out.root / "_expected.json").write_text(json.dumps(doc, indent=2) + "\n")
