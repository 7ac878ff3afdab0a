"""Web analytics: sessions with UTM tags and click ids, written as the GA4 BigQuery export."""

from __future__ import annotations

import base64
import gzip
import random
import re
from functools import lru_cache
from itertools import accumulate

import numpy as np

from generator import reference as ref
from generator.common import USD_RATE, Output, day_date, local_day_start

try:
    import orjson

    def _dumps(obj) -> bytes:
        return orjson.dumps(obj)

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is in the lock file
    import json

    def _dumps(obj) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    _loads = json.loads


PROPERTY_TZ = "America/New_York"
STREAM_ID = "4178451234"
SITE = "https://www.segmart-demo.com"
PAID, ORGANIC, DIRECT, EMAIL, REFERRAL, SOCIAL = range(6)
UNPAID_DAILY = {ORGANIC: 70.0, DIRECT: 55.0, EMAIL: 16.0, REFERRAL: 10.0, SOCIAL: 10.0}
LATE_SHARE = 0.01
DUPLICATE_SHARE = 0.002
BAD_SHARE = 2e-5
FORCED_BAD_DAYS = (9, 400)  # every dataset has bad events, even at tiny scales
HOUR_P = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 5, 5, 5, 5, 5, 5, 5.5, 6, 6, 5.5,
                   4, 2.5])  # fmt: skip
HOUR_P = HOUR_P[:23] / HOUR_P[:23].sum()  # sessions start before 23:00 so they end the same day
SEARCH_TERMS = ("segmart", "marketing analytics software", "buy sneakers online", "summer dresses",
                "customer segmentation tool", "b2b attribution", "wireless earbuds deal")  # fmt: skip
REFERRERS = ("https://www.g2.com/", "https://www.capterra.com/", "https://www.reddit.com/",
             "https://www.producthunt.com/")  # fmt: skip
SOCIAL_REFERRERS = ("https://www.facebook.com/", "https://t.co/", "https://www.linkedin.com/",
                    "https://www.instagram.com/")  # fmt: skip
SEARCH_REFERRERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")
PAGES = ("/", "/blog/how-to-segment-customers", "/pricing", "/collections/new-arrivals", "/about",
         "/blog/what-is-rfm", "/collections/sale")  # fmt: skip
B2B_PAGES = ("/demo", "/solutions/retail", "/solutions/saas", "/webinars/data-driven-marketing",
             "/resources/state-of-marketing-2024")  # fmt: skip
DEVICES = (
    ("desktop", "Windows", "Chrome"), ("desktop", "Macintosh", "Safari"),
    ("desktop", "Macintosh", "Chrome"), ("desktop", "Linux", "Firefox"),
    ("mobile", "iOS", "Safari"), ("mobile", "Android", "Chrome"), ("mobile", "iOS", "Chrome"),
    ("tablet", "iOS", "Safari"), ("tablet", "Android", "Chrome"),
)  # fmt: skip
DEVICE_CUM = list(accumulate((0.22, 0.1, 0.08, 0.03, 0.25, 0.22, 0.04, 0.04, 0.02)))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class Session:
    """One web visit; the simulation fills visitor and outcome before it is written."""

    __slots__ = (
        "start", "channel", "campaign", "utm", "click", "referrer", "landing", "kind",
        "customer", "logged_in", "person", "country", "order", "lead_type",
    )  # fmt: skip

    def __init__(self, start: int, channel: int, campaign: int):
        self.start, self.channel, self.campaign = start, channel, campaign
        self.utm: tuple[str, str, str, str, str] | None = (
            None  # source, medium, campaign, content, term
        )
        self.click: tuple[str, str] | None = None  # (param name, value)
        self.referrer = ""
        self.landing = "/"
        self.kind = "browse"  # browse | purchase | lead
        self.customer = -1  # shop customer slot
        self.logged_in = False
        self.person = -1  # B2B contact index
        self.country = 0
        self.order = None
        self.lead_type = ""

    @property
    def campaign_utm(self) -> tuple[str, str, str] | None:
        return self.utm[:3] if self.utm else None

    @property
    def lead_source(self) -> str:
        if self.channel == PAID:
            platform = ref.CAMPAIGNS[self.campaign].platform
            return "Paid Search" if platform == "google_ads" else "Paid Social"
        return {ORGANIC: "Organic Search", DIRECT: "Web", EMAIL: "Email", REFERRAL: "Referral",
                SOCIAL: "Web"}[self.channel]  # fmt: skip


class Web:
    """Builds sessions of a day and writes ``events_YYYYMMDD.jsonl.gz``."""

    def __init__(self, rng: np.random.Generator, out: Output, customer_ids: np.ndarray):
        self.rng = rng
        self.py = random.Random(int(rng.integers(2**63)))  # fast scalar draws
        self.out = out
        self.customer_ids = customer_ids
        self.visitors: dict[tuple[str, int], list] = {}  # (kind, id) -> [pseudo, first_us, n, ts]
        self.late: list[bytes] = []
        self._geo = {}
        self._device = [
            {"category": c, "operating_system": o, "web_info": {"browser": b}}
            for c, o, b in DEVICES
        ]
        self._sources: dict[tuple, dict] = {}

    # -- sessions ------------------------------------------------------------------------

    def sessions(self, day: int, paid: np.ndarray, unpaid: dict[int, int]) -> list[Session]:
        """Sessions of a day: ``paid[i]`` from campaign i, ``unpaid[channel]`` others."""
        rng = self.rng
        midnight = local_day_start(day_date(day), PROPERTY_TZ)
        channel = [PAID] * int(paid.sum()) + [c for c, k in unpaid.items() for _ in range(k)]
        campaign = np.repeat(np.arange(len(paid)), paid).tolist() + [-1] * sum(unpaid.values())
        n = len(channel)
        starts = midnight + rng.choice(23, size=n, p=HOUR_P) * 3600 + rng.integers(0, 3600, n)
        order = np.argsort(starts, kind="stable")
        out = []
        for k in order.tolist():
            s = Session(int(starts[k]), channel[k], campaign[k])
            self._tag(s, day)
            out.append(s)
        return out

    def extra_direct(self, day: int, n: int) -> list[Session]:
        return self.sessions(day, np.zeros(len(ref.CAMPAIGNS), dtype=np.int64), {DIRECT: n})

    def _tag(self, s: Session, day: int) -> None:
        py = self.py
        if s.channel == PAID:
            c = ref.CAMPAIGNS[s.campaign]
            sources, sw, media, mw = ref.UTM_VARIANTS[c.platform]
            s.landing = (
                B2B_PAGES[s.campaign % len(B2B_PAGES)] if c.audience == "b2b" else
                ("/" if "Brand" in c.name else f"/collections/{_slug(c.name.split('|')[-1])}")
            )  # fmt: skip
            if c.platform == "google_ads":
                s.click = ("gclid", _token(py, 48, "Cj0KCQ"))
                s.referrer = "https://www.google.com/"
                if py.random() < 0.5:
                    return  # auto-tagged: gclid only
            elif c.platform == "meta_ads" and py.random() < 0.9:
                s.click = ("fbclid", _token(py, 60, "IwAR"))
            elif c.platform == "tiktok_ads" and py.random() < 0.8:
                s.click = ("ttclid", _token(py, 40, "E.C.P."))
            elif c.platform == "linkedin_ads" and py.random() < 0.7:
                s.click = ("li_fat_id", _uuid(py))
            source = sources[py.choices(range(len(sources)), weights=sw)[0]]
            medium = media[py.choices(range(len(media)), weights=mw)[0]]
            numeric = c.platform in ("meta_ads", "tiktok_ads") and py.random() < 0.2
            name = c.campaign_id if numeric else _slug(c.name)
            term = (
                SEARCH_TERMS[int(py.random() * len(SEARCH_TERMS))]
                if c.campaign_type == "Search"
                else ""
            )
            s.utm = (source, medium, name, f"ad_{py.randrange(1, 6)}", term)
        elif s.channel == EMAIL:
            d = day_date(day)
            variant = py.randrange(4)
            s.utm = (("newsletter", "hubspot")[variant % 2], ("email", "Email")[variant // 2 % 2],
                     f"newsletter_{d.year}_{d.month:02d}", "", "")  # fmt: skip
            s.landing = PAGES[int(py.random() * len(PAGES))]
        elif s.channel == ORGANIC:
            s.referrer = SEARCH_REFERRERS[py.choices((0, 1, 2), weights=(0.85, 0.1, 0.05))[0]]
            s.landing = PAGES[int(py.random() * len(PAGES))]
        elif s.channel == REFERRAL:
            s.referrer = REFERRERS[int(py.random() * len(REFERRERS))]
            s.landing = "/pricing" if py.random() < 0.5 else "/"
        elif s.channel == SOCIAL:
            s.referrer = SOCIAL_REFERRERS[int(py.random() * len(SOCIAL_REFERRERS))]
            s.landing = PAGES[int(py.random() * len(PAGES))]
            if py.random() < 0.3:
                s.utm = ("linkedin" if "linkedin" in s.referrer else "facebook", "social",
                         "organic_post", "", "")  # fmt: skip
        else:
            s.landing = PAGES[int(py.random() * len(PAGES))]

    # -- events --------------------------------------------------------------------------

    def write_day(self, day: int, sessions: list[Session]) -> None:
        rng = self.rng
        d = day_date(day)
        event_date = f"{d:%Y%m%d}"
        lines: list[bytes] = []
        late_next: list[bytes] = []
        dups = 0
        events: list[bytes] = []
        for s in sessions:
            events.extend(self._session_lines(s, event_date))
        n = len(events)
        late = rng.random(n) < LATE_SHARE
        dup = (rng.random(n) < DUPLICATE_SHARE) & ~late
        for line, is_late, is_dup in zip(events, late.tolist(), dup.tolist(), strict=False):
            if is_late:
                late_next.append(line)
                continue
            lines.append(line)
            if is_dup:
                lines.append(line)
                dups += 1
        rel = f"web/ga4/events_{event_date}.jsonl.gz"
        stats = self.out.stats(rel, "events", "ga4_bigquery_export")
        n_bad = int(rng.binomial(n, BAD_SHARE)) + (day in FORCED_BAD_DAYS and n > 0)
        for k in range(n_bad):
            ev = _loads(events[int(rng.integers(n))])
            if k % 2 == 0:
                del ev["event_name"]
                stats.add_bad("missing_required")
            else:
                ev["event_timestamp"] = "not-a-timestamp"
                stats.add_bad("bad_date")
            pos = int(rng.integers(len(lines) + 1))
            lines.insert(pos, _dumps(ev))
        stats.late_rows += len(self.late)
        lines.extend(self.late)
        stats.duplicate_rows += dups
        stats.data_rows += len(lines)
        self._write(rel, lines)
        self.late = late_next

    def finish(self, next_day: int) -> None:
        """Late events of the last day go into the next day's file."""
        if not self.late:
            return
        rel = f"web/ga4/events_{day_date(next_day):%Y%m%d}.jsonl.gz"
        stats = self.out.stats(rel, "events", "ga4_bigquery_export")
        stats.late_rows += len(self.late)
        stats.data_rows += len(self.late)
        self._write(rel, self.late)
        self.late = []

    def _write(self, rel: str, lines: list[bytes]) -> None:
        # the original name in the gzip header (as gzip(1) writes it) keeps the files of two
        # days without events from being byte-identical copies of each other
        name = rel.rsplit("/", 1)[-1].removesuffix(".gz")
        gz_options = {"filename": name, "mode": "wb", "compresslevel": 1, "mtime": 0}
        with open(self.out.path(rel), "wb") as raw, gzip.GzipFile(fileobj=raw, **gz_options) as gz:
            gz.write(b"\n".join(lines) + b"\n" if lines else b"")

    def _visitor(self, s: Session) -> tuple[str, int, int, dict, bool]:
        """(pseudo id, first touch µs, session number, traffic_source, first visit)."""
        if s.customer >= 0:
            key = ("c", s.customer)
        elif s.person >= 0:
            key = ("p", s.person)
        else:
            key = None
        state = self.visitors.get(key) if key else None
        first = state is None
        if first:
            pseudo = f"{self.py.randrange(10**9, 10**10)}.{s.start}"
            state = [pseudo, s.start * 1_000_000, 0, self._source(s)]
            if key:
                self.visitors[key] = state
        state[2] += 1
        return state[0], state[1], state[2], state[3], first

    def _source(self, s: Session) -> dict:
        if s.channel == PAID and s.utm is None:
            key = ("google", "cpc", ref.CAMPAIGNS[s.campaign].name)
        elif s.utm:
            key = s.utm[:3]
        elif s.channel == ORGANIC:
            key = (
                s.referrer.split("//")[1].split("/")[0].replace("www.", "").split(".")[0],
                "organic",
                "(organic)",
            )
        elif s.channel in (REFERRAL, SOCIAL):
            key = (
                s.referrer.split("//")[1].strip("/").replace("www.", ""),
                "referral",
                "(referral)",
            )
        else:
            key = ("(direct)", "(none)", "(direct)")
        cached = self._sources.get(key)
        if cached is None:
            cached = self._sources[key] = {"name": key[2], "medium": key[1], "source": key[0]}
        return cached

    def _geo_of(self, country: int, rng_city: int) -> dict:
        c = ref.COUNTRIES[country]
        city = c.cities[rng_city % len(c.cities)][0]
        key = (country, city)
        geo = self._geo.get(key)
        if geo is None:
            geo = self._geo[key] = {"continent": c.continent, "country": c.name, "city": city}
        return geo

    def _session_lines(self, s: Session, event_date: str) -> list[bytes]:
        py = self.py
        pseudo, first_us, number, source, first_visit = self._visitor(s)
        user_id = str(self.customer_ids[s.customer]) if s.customer >= 0 and s.logged_in else None
        device = py.choices(self._device, cum_weights=DEVICE_CUM)[0]
        geo = self._geo_of(s.country, int(py.random() * 3))
        session_id = {"key": "ga_session_id", "value": {"int_value": str(s.start)}}
        session_no = {"key": "ga_session_number", "value": {"int_value": str(number)}}
        landing = SITE + s.landing + _query(s)
        cts = None
        if s.utm or s.click:
            cts = {}
            if s.utm:
                cts.update(
                    manual_source=s.utm[0], manual_medium=s.utm[1], manual_campaign_name=s.utm[2]
                )
                if s.channel == PAID:
                    cts["manual_campaign_id"] = ref.CAMPAIGNS[s.campaign].campaign_id
                if s.utm[3]:
                    cts["manual_content"] = s.utm[3]
                if s.utm[4]:
                    cts["manual_term"] = s.utm[4]
            if s.click and s.click[0] == "gclid":
                cts["gclid"] = s.click[1]

        steps: list[tuple[str, str, list]] = []  # (event name, page path, extra params)
        if first_visit:
            steps.append(("first_visit", landing, []))
        steps.append(("session_start", landing, []))
        steps.append(("page_view", landing, []))
        if s.kind == "purchase":
            o = s.order
            product = f"{SITE}/products/{o.products[0]:04d}"
            if s.logged_in:
                steps.append(("login", landing, []))
            steps += [("view_item", product, []), ("add_to_cart", product, []),
                      ("begin_checkout", f"{SITE}/checkout", [])]  # fmt: skip
            steps.append(("purchase", f"{SITE}/checkout/thank-you", [
                {"key": "transaction_id", "value": {"string_value": o.name}},
                {"key": "currency", "value": {"string_value": o.currency}},
                {"key": "value", "value": {"double_value": o.subtotal}},
            ]))  # fmt: skip
        elif s.kind == "lead":
            form = (
                f"{SITE}/demo"
                if s.lead_type in ("Demo Request", "Contact Sales")
                else f"{SITE}/contact"
            )
            if s.lead_type == "Content Download":
                steps.append(
                    (
                        "file_download",
                        landing,
                        [
                            {
                                "key": "file_name",
                                "value": {"string_value": "state-of-marketing-2024.pdf"},
                            }
                        ],
                    )
                )
            steps += [("page_view", form, []), ("form_start", form, []), ("form_submit", form, [])]
            steps.append(
                (
                    "generate_lead",
                    form,
                    [{"key": "lead_type", "value": {"string_value": s.lead_type}}],
                )
            )
        else:
            steps.append(("user_engagement", landing, []))
            if py.random() < 0.5:
                steps.append(("scroll", landing, []))
                page = SITE + PAGES[int(py.random() * len(PAGES))]
                steps.append(("page_view", page, []))

        rnd = py.random
        gaps = [2_000_000 + int(rnd() * 88_000_000) for _ in steps]
        gaps[0] = s.start * 1_000_000 + int(rnd() * 1_000_000)
        if first_visit:
            gaps[1] = 0  # first_visit and session_start share their timestamp
        times = accumulate(gaps)
        # Lines are assembled from pre-serialised fragments: fragments shared by a session
        # (visitor, device, geo, source) are serialised once, not once per event.
        session_params = _dumps(session_id) + b"," + _dumps(session_no)
        tail = _dumps({
            "user_pseudo_id": pseudo, "user_first_touch_timestamp": str(first_us),
            "device": device, "geo": geo, "traffic_source": source, "stream_id": STREAM_ID,
            "platform": "WEB", "is_active_user": True,
        })[1:]  # fmt: skip
        user = b'"user_id":' + _dumps(user_id) + b"," if user_id else b""
        cts_part = b'"collected_traffic_source":' + _dumps(cts) + b"," if cts else b""
        head = b'{"event_date":"' + event_date.encode() + b'","event_timestamp":"'
        engaged = b',{"key":"session_engaged","value":{"string_value":"1"}}'
        lines = []
        referrer = s.referrer
        page_parts: dict[str, bytes] = {}
        for (name, page, extra), t in zip(steps, times, strict=False):
            part = page_parts.get(page)
            if part is None:
                part = page_parts[page] = b"," + _dumps([
                    {"key": "page_location", "value": {"string_value": page}},
                    {"key": "page_title", "value": {"string_value": _title(page)}},
                ])[1:-1]  # fmt: skip
            params = session_params + part
            if referrer:
                params += b"," + _dumps(
                    {"key": "page_referrer", "value": {"string_value": referrer}}
                )
            if name in ("user_engagement", "page_view"):
                params += b',{"key":"engagement_time_msec","value":{"int_value":"%d"}}' % (
                    t % 40_000
                )
                params += engaged
            if extra:
                params += b"," + _dumps(extra)[1:-1]
            line = head + b'%d","event_name":"%s","event_params":[%s],' % (t, name.encode(), params)
            line += user
            if (
                cts_part
                and page == landing
                and name in ("first_visit", "session_start", "page_view")
            ):
                line += cts_part
            if name == "purchase":
                o = s.order
                line += b'"ecommerce":' + _dumps({
                    "transaction_id": o.name,
                    "purchase_revenue": o.subtotal,
                    "purchase_revenue_in_usd": round(o.subtotal * USD_RATE[o.currency], 2),
                    "total_item_quantity": str(sum(o.quantity)),
                    "unique_items": str(len(o.products)),
                    "tax_value": o.tax,
                    "shipping_value": o.shipping,
                }) + b","  # fmt: skip
            lines.append(line + tail)
            if page.startswith(SITE) and name == "page_view":
                referrer = page
        return lines


def _query(s: Session) -> str:
    parts = []
    if s.utm:
        names = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
        parts += [f"{k}={v.replace(' ', '+')}" for k, v in zip(names, s.utm, strict=False) if v]
    if s.click:
        parts.append(f"{s.click[0]}={s.click[1]}")
    return ("?" + "&".join(parts)) if parts else ""


@lru_cache(maxsize=4096)
def _title(url: str) -> str:
    path = url.split("?")[0][len(SITE) :].strip("/") or "home"
    return path.split("/")[-1].replace("-", " ").title() + " | Segmart Demo"


def _token(py: random.Random, length: int, prefix: str) -> str:
    raw = base64.urlsafe_b64encode(py.randbytes(length)).decode().rstrip("=")
    return prefix + raw[: length - len(prefix)]


def _uuid(py: random.Random) -> str:
    h = py.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
