"""B2C shop: product catalogue, customer registry (acquisition, churn) and Shopify exports."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from functools import cached_property
from itertools import accumulate

import numpy as np

from generator import reference as ref
from generator.common import (
    DAY,
    T_SNAPSHOT,
    USD_RATE,
    Output,
    csv_text,
    interleave,
    iso_with_offset,
)
from generator.world import HYBRID, Accounts, Contacts

STORE_TZ = "America/New_York"
CHANNELS = ("web", "app", "store", "marketplace")
CHANNEL_WEIGHTS = (0.45, 0.25, 0.18, 0.12)
SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,"
    "Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,"
    "Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,"
    "Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,"
    "Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,"
    "Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References,Customer ID,"
    "Lineitem product type,Lineitem cost"
)
COLUMNS = {name: i for i, name in enumerate(SHOPIFY_HEADER.split(","))}


def local_price(usd: float, currency: str) -> float:
    """A shelf price in the buyer's currency (charm pricing)."""
    if currency == "USD":
        return float(usd)
    value = usd / USD_RATE[currency]
    if currency == "INR":
        return float(max(99, round(value, -1) - 1))
    return float(np.floor(value) + 0.99)


@dataclass
class Catalogue:
    name: list[str]
    sku: list[str]
    category: np.ndarray
    price_usd: np.ndarray
    cost_share: np.ndarray
    vendor: list[str]
    popularity: np.ndarray

    @classmethod
    def make(cls, rng: np.random.Generator, n: int = 240) -> Catalogue:
        cat = rng.choice(len(ref.CATEGORIES), size=n, p=[c[1] for c in ref.CATEGORIES])
        names, vendors, price, cost = [], [], np.zeros(n), np.zeros(n)
        for i, c in enumerate(cat.tolist()):
            name, _, lo, hi, share, _ = ref.CATEGORIES[c]
            nouns = ref.PRODUCT_NOUNS[name]
            word = ref.PRODUCT_WORDS[rng.integers(len(ref.PRODUCT_WORDS))]
            names.append(f"{word} {nouns[rng.integers(len(nouns))]}")
            vendors.append(ref.VENDORS[(c + i) % len(ref.VENDORS)])
            price[i] = np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi)))) + 0.99
            cost[i] = share * rng.uniform(0.8, 1.2)
        names = [f"{nm} - {i % 7 + 1}" if names.count(nm) > 1 else nm for i, nm in enumerate(names)]
        popularity = 1.0 / np.arange(1, n + 1) ** 0.8
        return cls(
            name=names,
            sku=[f"SKU-{i + 1:05d}" for i in range(n)],
            category=cat,
            price_usd=price,
            cost_share=cost,
            vendor=vendors,
            popularity=rng.permutation(popularity / popularity.sum()),
        )


@dataclass
class Order:
    name: str
    shop_id: int
    ts: int
    channel: str
    source: str
    customer: int  # registry slot or -1 (guest)
    currency: str
    country: int
    products: list[int]
    quantity: list[int]
    price: list[float]
    discount: list[float]
    returned: list[bool]
    discount_code: str
    shipping: float
    tax: float
    utm: tuple[str, str, str] | None = None
    bad: str = ""  # reason if this is a deliberately bad extra order

    @cached_property
    def subtotal(self) -> float:
        return round(
            sum(
                q * p - d for q, p, d in zip(self.quantity, self.price, self.discount, strict=False)
            ),
            2,
        )


@dataclass
class Customers:
    """Shop customers: a pool of contacts acquired one after another during the window."""

    contact: np.ndarray  # contact index per slot, in acquisition order
    customer_id: np.ndarray  # Shopify Customer ID per slot
    acquired_day: np.ndarray
    churn_day: np.ndarray
    weight: np.ndarray
    first_order_ts: np.ndarray
    acquired_channel: list[str] = field(default_factory=list)
    n_acquired: int = 0

    @classmethod
    def make(cls, rng: np.random.Generator, accounts: Accounts, contacts: Contacts) -> Customers:
        consumers = np.arange(contacts.n_b2b, len(contacts))
        hybrid_acc = np.flatnonzero(accounts.kind == HYBRID)
        first_contact = np.searchsorted(contacts.account[: contacts.n_b2b], hybrid_acc)
        buyers = first_contact[rng.random(len(first_contact)) < 0.7]
        pool = rng.permutation(np.concatenate([consumers, buyers]))
        n = len(pool)
        return cls(
            contact=pool,
            customer_id=6_817_450_000_000 + np.arange(n, dtype=np.int64) * 17 + 3,
            acquired_day=np.full(n, -1, dtype=np.int64),
            churn_day=np.full(n, 10**6, dtype=np.int64),
            weight=rng.gamma(1.5, 1.0, n),
            first_order_ts=np.full(n, -1, dtype=np.int64),
            acquired_channel=[""] * n,
        )

    def pick(self, rng: np.random.Generator, day: int, n: int, scale: float) -> np.ndarray:
        """Customer slot per order (new or repeat), -1 for guest checkouts."""
        slots = np.full(n, -1, dtype=np.int64)
        guest = rng.random(n) < 0.05
        active = np.flatnonzero(self.churn_day[: self.n_acquired] > day)
        p_repeat = 0.74 * len(active) / (len(active) + 400 * scale + 1)
        repeat = ~guest & (rng.random(n) < p_repeat)
        if repeat.any():
            w = self.weight[active]
            slots[repeat] = rng.choice(active, size=int(repeat.sum()), p=w / w.sum())
        new = np.flatnonzero(~guest & ~repeat)
        k = min(len(new), len(self.contact) - self.n_acquired)
        fresh = np.arange(self.n_acquired, self.n_acquired + k)
        slots[new[:k]] = fresh
        if k < len(new) and self.n_acquired:  # pool exhausted: the rest are repeat buyers
            slots[new[k:]] = rng.integers(0, self.n_acquired, size=len(new) - k)
        self.acquired_day[fresh] = day
        self.churn_day[fresh] = day + np.ceil(rng.exponential(420, k)).astype(np.int64)
        self.n_acquired += k
        return slots


class Shop:
    def __init__(self, rng: np.random.Generator, accounts: Accounts, contacts: Contacts):
        self.rng = rng
        self.py = random.Random(int(rng.integers(2**63)))  # fast scalar draws
        self.accounts = accounts
        self.contacts = contacts
        self.catalogue = Catalogue.make(rng)
        self.customers = Customers.make(rng, accounts, contacts)
        self._product_cum = list(accumulate(self.catalogue.popularity.tolist()))
        self._country_cum = list(accumulate(_consumer_p().tolist()))
        self.month_orders: list[Order] = []
        self.n_orders = 0
        self.n_bad = 0
        self.file_no = 0

    def make_orders(
        self, day: int, ts: np.ndarray, channels: np.ndarray, scale: float
    ) -> list[Order]:
        """Orders of one day at times ``ts`` with channel indices into CHANNELS."""
        rng, py, cat = self.rng, self.py, self.catalogue
        slots = self.customers.pick(rng, day, len(ts), scale)
        n_lines = (1 + np.minimum(rng.poisson(0.6, len(ts)), 4)).tolist()
        orders = []
        for t, ch, slot, k in zip(
            ts.tolist(), channels.tolist(), slots.tolist(), n_lines, strict=False
        ):
            channel = CHANNELS[ch]
            if slot >= 0:
                country = int(self.contacts.country[self.customers.contact[slot]])
                if self.customers.first_order_ts[slot] < 0:
                    self.customers.first_order_ts[slot] = t
            else:
                country = py.choices(range(len(ref.COUNTRIES)), cum_weights=self._country_cum)[0]
            c = ref.COUNTRIES[country]
            currency = c.shop_currency
            picked = py.choices(range(len(cat.name)), cum_weights=self._product_cum, k=k)
            products = list(dict.fromkeys(picked))  # distinct products, first pick first
            qty = py.choices((1, 2, 3), weights=(0.8, 0.15, 0.05), k=len(products))
            price = [local_price(cat.price_usd[p], currency) for p in products]
            code, pct = "", 0.0
            if py.random() < 0.18:
                month = int(str(np.datetime64(t, "s"))[5:7])
                if month == 11:
                    code, pct = "BFCM20", 0.2
                elif slot >= 0 and self.customers.first_order_ts[slot] == t:
                    code, pct = "WELCOME10", 0.1
                else:
                    code, pct = "SPRING15", 0.15
            discount = [round(q * p * pct, 2) for q, p in zip(qty, price, strict=False)]
            returned = [py.random() < ref.CATEGORIES[cat.category[p]][5] for p in products]
            if channel == "app":
                source = "android" if py.random() < 0.4 else "iphone"
            elif channel == "marketplace":
                source = "ebay" if py.random() < 0.3 else "amazon"
            else:
                source = {"web": "web", "store": "pos"}[channel]
            self.n_orders += 1
            order = Order(
                name=f"#{1000 + self.n_orders}",
                shop_id=5_100_000_000_000 + self.n_orders * 13,
                ts=t,
                channel=channel,
                source=source,
                customer=slot,
                currency=currency,
                country=country,
                products=products,
                quantity=qty,
                price=price,
                discount=discount,
                returned=returned,
                discount_code=code,
                shipping=0.0,
                tax=0.0,
            )
            sub = order.subtotal
            if channel in ("web", "app"):
                free_from = local_price(75.0, currency)
                order.shipping = 0.0 if sub >= free_from else local_price(5.0, currency)
            order.tax = round(sub * c.tax_rate, 2)
            orders.append(order)
        self.month_orders.extend(orders)
        return orders

    def write_month(self, out: Output) -> None:
        """Write ``orders_export_{N}.csv`` for the buffered month and reset the buffer."""
        self.file_no += 1
        rel = f"crm/shopify/orders_export_{self.file_no}.csv"
        stats = out.stats(rel, "orders", "shopify_orders_export")
        orders = self.month_orders
        rng = self.rng
        created = iso_with_offset(np.array([o.ts for o in orders], dtype=np.int64), STORE_TZ)
        blocks = [self._rows(o, c) for o, c in zip(orders, created, strict=False)]
        bad_blocks = []
        n_bad = max(1, rng.binomial(len(orders), 0.0008)) if orders else 0
        for k in range(n_bad):
            template = orders[int(rng.integers(len(orders)))]
            self.n_bad += 1
            reason = "bad_date" if k % 2 == 0 else "bad_number"
            kept = {f.name: getattr(template, f.name) for f in fields(Order)}
            bad = Order(**{**kept, "products": template.products[:1],
                           "quantity": template.quantity[:1], "price": template.price[:1],
                           "discount": template.discount[:1], "returned": [False],
                           "name": f"#{1_000_000_000 + self.n_bad}", "bad": reason})  # fmt: skip
            rows = self._rows(bad, "0000-00-00 00:00:00" if reason == "bad_date" else created[0])
            if reason == "bad_number":
                rows[0][COLUMNS["Lineitem price"]] = "N/A"
            bad_blocks.append(rows)
            stats.add_bad(reason)
        blocks = interleave(blocks, bad_blocks, rng)
        rows = [row for block in blocks for row in block]
        stats.data_rows += len(rows)
        text = SHOPIFY_HEADER + "\n" + csv_text(rows)
        out.path(rel).write_bytes(text.encode("utf-8"))
        self.month_orders = []

    def _rows(self, o: Order, created: str) -> list[list[str]]:
        cat, cust, contacts = self.catalogue, self.customers, self.contacts
        contact = int(cust.contact[o.customer]) if o.customer >= 0 else -1
        email = contacts.email[contact] if contact >= 0 else ""
        if o.channel == "store" and (o.shop_id // 13) % 6 == 0:
            email = ""
        sale = [(i, 1) for i in range(len(o.products))]
        returns = [(i, -1) for i, r in enumerate(o.returned) if r]
        refunded = round(sum(o.quantity[i] * o.price[i] - o.discount[i] for i, _ in returns), 2)
        status = (
            "paid"
            if not returns
            else ("refunded" if len(returns) == len(sale) else "partially_refunded")
        )
        fulfilled = o.ts + 2 * DAY < T_SNAPSHOT
        rows = []
        for n, (i, sign) in enumerate(sale + returns):
            row = [""] * len(COLUMNS)
            p = o.products[i]
            row[COLUMNS["Name"]] = o.name
            row[COLUMNS["Email"]] = email
            row[COLUMNS["Lineitem quantity"]] = str(sign * o.quantity[i])
            row[COLUMNS["Lineitem name"]] = cat.name[p]
            row[COLUMNS["Lineitem price"]] = f"{o.price[i]:.2f}"
            row[COLUMNS["Lineitem sku"]] = cat.sku[p]
            row[COLUMNS["Lineitem requires shipping"]] = "false" if cat.category[p] == 6 else "true"
            row[COLUMNS["Lineitem taxable"]] = "true"
            row[COLUMNS["Lineitem fulfillment status"]] = (
                "returned" if sign < 0 else ("fulfilled" if fulfilled else "pending")
            )
            row[COLUMNS["Vendor"]] = cat.vendor[p]
            row[COLUMNS["Lineitem discount"]] = f"{sign * o.discount[i]:.2f}"
            row[COLUMNS["Lineitem product type"]] = ref.CATEGORIES[cat.category[p]][0]
            row[COLUMNS["Lineitem cost"]] = f"{o.price[i] * cat.cost_share[p]:.2f}"
            if n == 0:
                self._order_fields(row, o, created, contact, status, refunded, fulfilled)
            rows.append(row)
        return rows

    def _order_fields(self, row, o: Order, created, contact, status, refunded, fulfilled) -> None:
        c = ref.COUNTRIES[o.country]
        contacts = self.contacts
        sub = o.subtotal
        name = ""
        if contact >= 0:
            name = f"{ref.FIRST_NAMES[contacts.first[contact]][0]} {ref.LAST_NAMES[contacts.last[contact]]}"
        company = ""
        if contact >= 0 and contacts.account[contact] >= 0:
            company = self.accounts.name[contacts.account[contact]]
        city = c.cities[int(contacts.city[contact]) if contact >= 0 else 0][0]
        fields = {
            "Financial Status": status,
            "Paid at": created,
            "Fulfillment Status": "fulfilled" if fulfilled else "unfulfilled",
            "Fulfilled at": created if fulfilled and o.channel == "store" else "",
            "Accepts Marketing": "yes" if o.shop_id % 3 else "no",
            "Currency": o.currency,
            "Subtotal": f"{sub:.2f}",
            "Shipping": f"{o.shipping:.2f}",
            "Taxes": f"{o.tax:.2f}",
            "Total": f"{sub + o.shipping + o.tax:.2f}",
            "Discount Code": o.discount_code,
            "Discount Amount": f"{sum(o.discount):.2f}",
            "Shipping Method": "" if o.channel == "store" else "Standard",
            "Created at": created,
            "Billing Name": name,
            "Billing Company": company,
            "Billing City": city,
            "Billing Country": c.code,
            "Shipping Name": name if o.channel != "store" else "",
            "Shipping City": city if o.channel != "store" else "",
            "Shipping Country": c.code if o.channel != "store" else "",
            "Payment Method": "Shopify Payments" if o.channel != "marketplace" else o.source,
            "Refunded Amount": f"{refunded:.2f}",
            "Outstanding Balance": "0.00",
            "Location": "Flagship Store" if o.channel == "store" else "",
            "Id": str(o.shop_id),
            "Risk Level": "Low",
            "Source": o.source,
            "Tax 1 Name": f"VAT {round(c.tax_rate * 100)}%" if c.tax_rate else "",
            "Tax 1 Value": f"{o.tax:.2f}" if c.tax_rate else "",
            "Customer ID": str(self.customers.customer_id[o.customer]) if o.customer >= 0 else "",
        }
        if o.utm:
            fields["Note Attributes"] = (
                f"utm_source: {o.utm[0]}\nutm_medium: {o.utm[1]}\nutm_campaign: {o.utm[2]}"
            )
        for key, value in fields.items():
            row[COLUMNS[key]] = value


_CONSUMER_P = None


def _consumer_p() -> np.ndarray:
    global _CONSUMER_P
    if _CONSUMER_P is None:
        w = np.array([c.consumer_weight for c in ref.COUNTRIES])
        _CONSUMER_P = w / w.sum()
    return _CONSUMER_P
