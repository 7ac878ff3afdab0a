"""The population of the demo world: accounts (B2B, hybrid, B2G) and contacts (people).

Everything is held as column arrays sized by the entity counts (5k accounts and 50k contacts
at scale 1); the high-volume streams (events, orders) are generated day by day elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from generator import reference as ref
from generator.common import DAY, NO_DATE, T0, uniquify

B2B, HYBRID, B2G = 0, 1, 2
KIND_LABEL = ("B2B", "hybrid", "B2G")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _pick(rng: np.random.Generator, options, n: int, weights=None) -> np.ndarray:
    p = None if weights is None else np.asarray(weights, float) / np.sum(weights)
    return rng.choice(len(options), size=n, p=p)


@dataclass
class Accounts:
    record_id: np.ndarray  # int64, HubSpot company Record ID
    kind: np.ndarray  # B2B / HYBRID / B2G
    country: np.ndarray  # index into ref.COUNTRIES
    city: np.ndarray  # index into the country's cities
    name: list[str]
    domain: list[str]
    industry: np.ndarray  # index into ref.INDUSTRIES, -1 for government
    industry_text: list[str]
    employees: np.ndarray  # int64
    revenue: np.ndarray  # float USD
    technologies: list[str]
    parent: np.ndarray  # account index or -1
    created_at: np.ndarray  # epoch seconds
    fit: np.ndarray  # conversion propensity multiplier (firmographic cell)

    def __len__(self) -> int:
        return len(self.kind)


@dataclass
class Contacts:
    record_id: np.ndarray  # int64, HubSpot contact Record ID
    account: np.ndarray  # account index or -1 (consumers)
    account2: np.ndarray  # second associated account or -1
    first: np.ndarray  # index into ref.FIRST_NAMES
    last: np.ndarray  # index into ref.LAST_NAMES
    email: list[str]
    phone: list[str]
    job_title: list[str]
    country: np.ndarray
    city: np.ndarray
    birth_date: np.ndarray  # epoch seconds (negative before 1970) or NO_DATE
    gender_known: np.ndarray  # bool
    created_at: np.ndarray  # epoch seconds; refined by the simulation
    n_b2b: int  # contacts [0, n_b2b) belong to accounts, the rest are consumers

    def __len__(self) -> int:
        return len(self.account)


def make_accounts(rng: np.random.Generator, n: int) -> Accounts:
    kind = rng.choice(3, size=n, p=[0.72, 0.20, 0.08]).astype(np.int8)
    country = _pick(rng, ref.COUNTRIES, n, [c.account_weight for c in ref.COUNTRIES])
    city = np.array(
        [rng.integers(len(ref.COUNTRIES[c].cities)) for c in country.tolist()], dtype=np.int64
    )
    employees = np.where(
        kind == B2B,
        np.exp(rng.normal(np.log(120), 1.4, n)),
        np.where(kind == HYBRID, rng.integers(1, 26, n), np.exp(rng.normal(np.log(900), 1.0, n))),
    )
    employees = np.clip(np.round(employees), 1, 150_000).astype(np.int64)
    per_head = np.exp(rng.normal(np.log(160_000), 0.5, n))
    revenue = np.round(employees * per_head, -3)
    industry = _pick(rng, ref.INDUSTRIES, n, [i[1] for i in ref.INDUSTRIES])
    industry = np.where(kind == B2G, -1, industry)

    names, domains, industry_text = [], [], []
    a = rng.integers(len(ref.COMPANY_WORDS_A), size=n)
    b = rng.integers(len(ref.COMPANY_WORDS_B), size=n)
    s = rng.integers(0, 6, size=n)
    variant = rng.random(n)
    free_domain = rng.random(n) < 0.25
    for i in range(n):
        c = ref.COUNTRIES[country[i]]
        if kind[i] == B2G:
            city_name = c.cities[city[i]][0]
            agency = ref.GOV_AGENCIES[(a[i] + b[i]) % len(ref.GOV_AGENCIES)]
            names.append(f"{city_name} {agency}")
            domains.append(_slug(agency) + "." + _slug(city_name) + c.gov_suffix)
            industry_text.append(ref.GOV_INDUSTRIES[int(variant[i] * 3)])
            continue
        base = f"{ref.COMPANY_WORDS_A[a[i]]} {ref.COMPANY_WORDS_B[b[i]]}"
        suffixes = ref.COMPANY_SUFFIX[c.code]
        names.append(f"{base} {suffixes[s[i] % len(suffixes)]}")
        if kind[i] == HYBRID and free_domain[i]:
            domains.append("gmail.com")  # sole trader without a website
        else:
            domains.append(_slug(base) + c.tld)
        spellings = ref.INDUSTRIES[industry[i]][2]
        if variant[i] < 0.05:
            industry_text.append("")
        elif variant[i] < 0.7 or len(spellings) == 1:
            industry_text.append(spellings[0])
        else:
            industry_text.append(spellings[1 + int(variant[i] * 97) % (len(spellings) - 1)])
    names = uniquify(names)
    domains = _unique_domains(domains)

    n_tech = np.clip(rng.poisson(1 + np.log10(employees + 1) * 1.3), 0, 8)
    technologies = []
    for k in n_tech.tolist():
        picked = np.sort(rng.choice(len(ref.TECHNOLOGIES), size=k, replace=False))
        technologies.append(";".join(ref.TECHNOLOGIES[j] for j in picked.tolist()))

    parent = np.full(n, -1, dtype=np.int64)
    has_parent = (rng.random(n) < 0.03) & (kind == B2B)
    parent[has_parent] = rng.integers(0, n, size=int(has_parent.sum()))
    parent[parent == np.arange(n)] = -1

    span = (T0 + 730 * DAY) - (T0 - 5 * 365 * DAY)
    created_at = T0 - 5 * 365 * DAY + (rng.random(n) ** 0.7 * span).astype(np.int64)

    size_fit = np.select(
        [employees < 10, employees < 50, employees < 250, employees < 1000],
        [0.7, 0.9, 1.1, 1.2],
        1.0,
    )
    industry_fit = np.array([ref.INDUSTRIES[i][3] if i >= 0 else 0.8 for i in industry.tolist()])
    return Accounts(
        record_id=9_823_410_001 + np.arange(n, dtype=np.int64) * 3,
        kind=kind,
        country=country,
        city=city,
        name=names,
        domain=domains,
        industry=industry,
        industry_text=industry_text,
        employees=employees,
        revenue=revenue,
        technologies=technologies,
        parent=parent,
        created_at=created_at,
        fit=size_fit * industry_fit,
    )


def _unique_domains(domains: list[str]) -> list[str]:
    """Corporate domains must be unique; free-mail domains are shared on purpose."""
    out, seen = [], {}
    for d in domains:
        if d == "gmail.com":
            out.append(d)
            continue
        n = seen.get(d, 0) + 1
        seen[d] = n
        if n == 1:
            out.append(d)
        else:
            head, tail = d.split(".", 1)
            out.append(f"{head}{n}.{tail}")
    return out


def make_contacts(rng: np.random.Generator, accounts: Accounts, n: int) -> Contacts:
    n_acc = len(accounts)
    n_b2b = min(max(n_acc, int(round(n * 0.45))), n)
    weight = np.where(
        accounts.kind == HYBRID, 0.3, 1.0 + np.log10(accounts.employees + 1) * 1.5
    ) * np.where(accounts.kind == B2G, 1.5, 1.0)
    extra = rng.choice(n_acc, size=n_b2b - n_acc, p=weight / weight.sum())
    account = np.sort(np.concatenate([np.arange(n_acc), extra]))
    n_consumers = n - n_b2b
    account = np.concatenate([account, np.full(n_consumers, -1)]).astype(np.int64)
    account2 = np.full(n, -1, dtype=np.int64)
    two = np.flatnonzero((rng.random(n) < 0.01) & (account >= 0))
    account2[two] = rng.integers(0, n_acc, size=len(two))
    account2[account2 == account] = -1

    first = rng.integers(len(ref.FIRST_NAMES), size=n)
    last = rng.integers(len(ref.LAST_NAMES), size=n)
    consumer_country = _pick(rng, ref.COUNTRIES, n, [c.consumer_weight for c in ref.COUNTRIES])
    country = np.where(account >= 0, accounts.country[np.maximum(account, 0)], consumer_country)
    city = np.where(
        account >= 0,
        accounts.city[np.maximum(account, 0)],
        [rng.integers(len(ref.COUNTRIES[c].cities)) for c in country.tolist()],
    ).astype(np.int64)

    emails, phones, titles = [], [], []
    year2 = rng.integers(60, 100, size=n)
    sep = rng.integers(0, 3, size=n)
    title_pick = rng.integers(0, 1000, size=n)
    phone_digits = rng.integers(10**8, 10**9, size=n)
    for i in range(n):
        fn = _slug(ref.FIRST_NAMES[first[i]][0])
        ln = _slug(ref.LAST_NAMES[last[i]])
        c = ref.COUNTRIES[country[i]]
        if account[i] >= 0:
            domain = accounts.domain[account[i]]
            local = (
                f"{fn}.{ln}"
                if domain != "gmail.com"
                else f"{fn}.{ln}.{_slug(accounts.name[account[i]])[:8]}"
            )
            kind = accounts.kind[account[i]]
            titles.append(
                ref.JOB_TITLES_GOV[title_pick[i] % len(ref.JOB_TITLES_GOV)]
                if kind == B2G
                else ref.JOB_TITLES_B2B[title_pick[i] % len(ref.JOB_TITLES_B2B)]
            )
        else:
            mails = ref.FREE_MAIL.get(c.code, ref.FREE_MAIL_DEFAULT)
            domain = mails[title_pick[i] % len(mails)]
            local = (f"{fn}{ln}", f"{fn}.{ln}", f"{fn}_{ln}")[sep[i]] + str(year2[i])
            titles.append("")
        emails.append(f"{local}@{domain}")
        phones.append(f"{c.phone_prefix} {phone_digits[i]}" if title_pick[i] % 3 else "")
    emails = uniquify(emails, insert_before="@")

    is_consumer = account < 0
    birth_known = np.where(is_consumer, rng.random(n) < 0.4, rng.random(n) < 0.03)
    age_days = (rng.uniform(18, 75, n) * 365.25).astype(np.int64)
    birth_date = np.where(birth_known, (T0 - age_days * DAY) // DAY * DAY, NO_DATE)
    gender_known = np.where(is_consumer, rng.random(n) < 0.5, rng.random(n) < 0.05)
    created_at = T0 + (rng.random(n) * 730 * DAY).astype(np.int64)
    return Contacts(
        record_id=51_000_000_001 + np.arange(n, dtype=np.int64) * 7,
        account=account,
        account2=account2,
        first=first,
        last=last,
        email=emails,
        phone=phones,
        job_title=titles,
        country=country,
        city=city,
        birth_date=birth_date,
        gender_known=gender_known,
        created_at=created_at,
        n_b2b=n_b2b,
    )
