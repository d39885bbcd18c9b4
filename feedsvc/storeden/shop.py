"""The simulator's shop: a deterministic, realistic set of Storeden orders that can move forward in time.

Same seed, same shop. Orders carry what real ones carry (numeric country
UIDs, `+39/…` phones, accents, ampersands and quotes in names, variants,
coupons, cash on delivery with a fee, parcels) and an event log, so
`orders_filter.json` can answer what changed since a moment. `advance()` adds
orders, moves statuses and adds tracking; `corrupt()` breaks one order on
purpose for the hostile-data tests.
"""

from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

from feedsvc.storeden.vocabulary import SHIPPED_STATUSES, STATUS_GROUPS, STATUS_NAMES

COUNTRY_UIDS = {"118": "IT", "80": "DE", "75": "FR", "205": "ES", "14": "AT", "57": "CZ",
                "152": "NL", "21": "BE", "232": "US"}
COUNTRY_NAMES = {"IT": "Italia", "DE": "Deutschland", "FR": "France", "ES": "España", "AT": "Österreich",
                 "CZ": "Česko", "NL": "Nederland", "BE": "Belgique", "US": "United States"}
UNKNOWN_COUNTRY_UID = "999"
_UID_BY_ISO = {iso: uid for uid, iso in COUNTRY_UIDS.items()}
_COUNTRY_WEIGHTS = [("IT", 60), ("DE", 8), ("FR", 8), ("ES", 6), ("AT", 5), ("CZ", 4), ("NL", 3), ("BE", 3),
                    ("US", 3)]
_PEOPLE = {
    "IT": (["Giulia", "Marco", "Niccolò", "Chiara", "Lucía", "Andrea", "Francesca", "Gianluca"],
           ["Rossi", "Bianchi", "D'Angelo", "Esposito", "Conte & Figli S.r.l.", "Colombo", "Ricci"],
           ["Via Giuseppe Mazzini", "Via dell'Agnolo", "Corso Vittorio Emanuele II", "Piazza San Marco",
            "Viale Aldo Moro"], ["Bologna", "Torino", "Firenze", "Napoli", "Milano", "Forlì"], "+39/3{:09d}",
           "{:05d}"),
    "DE": (["Jürgen", "Anna", "Søren", "Lea"], ["Müller", "Bäckerei Müller & Söhne", "Schröder", "Weiß"],
           ["Hauptstraße", "Königsallee", "Straße des 17. Juni"], ["München", "Köln", "Berlin"], "+49/15{:08d}",
           "{:05d}"),
    "FR": (["Élodie", "François", "Zoé"], ["Lefèvre", "\"Le Petit\" Café", "Dupont"],
           ["Rue de l'Église", "Boulevard Saint-Germain"], ["Paris", "Lyon", "Besançon"], "+33/6{:08d}",
           "{:05d}"),
    "ES": (["Íñigo", "María José"], ["Muñoz", "García"], ["Calle Mayor", "Avenida de la Constitución"],
           ["Madrid", "Sevilla", "A Coruña"], "+34/6{:08d}", "{:05d}"),
    "AT": (["Lukas", "Sophie"], ["Gruber", "Hofer"], ["Mariahilfer Straße"], ["Wien", "Graz"], "+43/66{:07d}",
           "{:04d}"),
    "CZ": (["Jan", "Tereza"], ["Novák", "Dvořáková"], ["Hlavní", "Náměstí Míru"], ["Praha", "Brno"],
           "+420/6{:08d}", "{:03d} {:02d}"),
    "NL": (["Daan", "Fleur"], ["de Vries", "van den Berg"], ["Keizersgracht"], ["Amsterdam", "Utrecht"],
           "+31/6{:08d}", "{:04d} AB"),
    "BE": (["Maëlle", "Pieter"], ["Peeters", "Janssens"], ["Rue Neuve"], ["Bruxelles", "Gent"], "+32/47{:07d}",
           "{:04d}"),
    "US": (["John", "Mary-Kate"], ["O'Brien", "Smith"], ["Times Square", "5th Avenue"], ["New York"],
           "+1/212{:07d}", "NY {:05d}"),
}
PRODUCTS = [
    ("Trail shoe Dolomiti GTX", "TR-DOL", Decimal("129.90"), ["40_grey", "42_grey", "44_black"]),
    ("Cordless drill 18 V", "DRL-18V", Decimal("89"), []),
    ("Bits & holder set, 10 pcs", "BIT-SET-10", Decimal("12.50"), []),
    ("T-shirt \"Riviera\"", "TS-RIV", Decimal("19.99"), ["s_white", "m_white", "xl_red"]),
    ("Espresso cups, set of 6", "", Decimal("33.33"), []),
    ("Olive oil 1 l extra vergine", "OIL-1L", Decimal("14.9"), []),
    ("Backpack 30 l", "BP-30", Decimal("99.99"), ["blue", "green"]),
    ("Gift card", "GIFT", Decimal("50"), []),
    ("Socks 3-pack", "", Decimal("9.95"), ["39-42", "43-46"]),
    ("Smartwatch <Sport> edition", "SW-SPORT", Decimal("199"), []),
]
SHIPPING = [("BRT Corriere Espresso", Decimal("7.50")), ("GLS", Decimal("6.90")),
            ("Poste Italiane", Decimal("5.50")), ("DHL Express", Decimal("12.00")),
            ("Ritiro in negozio", Decimal("0"))]
PAYMENTS = [("mark", 25), ("stripe", 35), ("paypalcheckout", 25), ("transfer", 10),
            ("5cf8c7f316f46a273b221933", 5)]
CHECKOUT_METHODS = {
    "payments": ["mark", "transfer", "paypalcheckout", "stripe", "5cf8c7f316f46a273b221933"],
    "payment_setup": {
        "mark": {"available": 1, "cost": Decimal("10.00"), "label": "Cash on delivery"},
        "transfer": {"available": 1, "cost": None, "label": "band transfer"},
        "paypalcheckout": {"available": 1, "cost": 0, "label": "Paypal / Credit Card"},
        "stripe": {"available": 1, "cost": 0, "label": "Credit Card (Stripe)"},
        "5cf8c7f316f46a273b221933": {"available": 1, "cost": 0, "label": "Pay By Cash"},
    },
}
COURIERS = {"BRT": {"code": "BRT", "name": "BRT", "country": "IT"},
            "GLS": {"code": "GLS", "name": "GLS", "country": "global"},
            "DHL": {"code": "DHL", "name": "DHL Express", "country": "global"},
            "POSTE": {"code": "POSTE", "name": "Poste Italiane", "country": "IT"},
            "UPS": {"code": "UPS", "name": "UPS", "country": "global"}}
STATUSES = {group: {str(code): STATUS_NAMES[code] for code in codes} for group, codes in STATUS_GROUPS.items()}
_STATUS_WEIGHTS = [(0, 6), (1, 16), (2, 16), (3, 22), (4, 20), (5, 8), (6, 3), (7, 4), (8, 5)]
SHIPPED = tuple(sorted(SHIPPED_STATUSES))
LOCALES = {"IT": "it_IT", "DE": "de_DE", "AT": "de_DE", "FR": "fr_FR", "BE": "fr_FR", "ES": "es_ES",
           "CZ": "en_US", "NL": "en_US", "US": "en_US"}
ROME = timezone(timedelta(hours=1))
CORRUPTIONS = ("missing_email", "control_chars", "float_price", "unknown_country", "huge_name", "bad_types",
               "empty_cart", "negative_price", "list_items")


MISSING = object()  # set_status: leave the key out
SAME = object()  # set_status: keep the details' status; list entries: say what the details say


@dataclass
class Event:
    id: int
    ts: int


@dataclass
class SimOrder:
    order: dict
    short_id: str
    locale: str
    events: list[Event] = field(default_factory=list)
    tracking: dict | None = None
    listed_status: object = SAME  # what list.json and orders_filter.json say: by default the order's status

    @property
    def order_id(self) -> str:
        return self.order["orderID"]

    @property
    def ts(self) -> int:
        return self.order["orderDate"]["sec"]

    @property
    def status(self) -> object:
        return self.order.get("status")

    @property
    def listed(self) -> object:
        return self.order.get("status", MISSING) if self.listed_status is SAME else self.listed_status

    @property
    def last_event(self) -> int:
        return max(e.ts for e in self.events)


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs)
    return rng.choices(values, weights=weights)[0]


def iso_with_offset(ts: int, colon: bool = False) -> str:
    text = datetime.fromtimestamp(ts, tz=ROME).strftime("%Y-%m-%dT%H:%M:%S%z")
    return text[:-2] + ":" + text[-2:] if colon else text


class Shop:
    def __init__(self, seed: int = 1, orders: int = 200, now: float | None = None, days: int = 10):
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = int(now if now is not None else time.time())
        self.orders: dict[str, SimOrder] = {}
        self._event_id = 0
        self._next_short = 10001
        self._advances = 0
        start = self.now - days * 86400
        stamps = sorted(self.rng.randint(start, self.now - 60) for _ in range(orders))
        for ts in stamps:
            self._add_order(ts, status=_weighted(self.rng, _STATUS_WEIGHTS))

    # -- building orders ------------------------------------------------------
    def _event(self, order: SimOrder, ts: int) -> None:
        self._event_id += 1
        order.events.append(Event(self._event_id, ts))

    def _address(self, rng: random.Random, iso: str) -> dict:
        first, last, streets, cities, phone, zip_format = _PEOPLE[iso]
        name = f"{rng.choice(first)} {rng.choice(last)}"
        zip_digits = rng.randint(1010, 98100)
        postal = zip_format.format(zip_digits // 100, zip_digits % 100) if zip_format == "{:03d} {:02d}" \
            else zip_format.format(zip_digits)
        return {
            "addr1": f"{rng.choice(streets)} {rng.randint(1, 240)}",
            "addr2": rng.choice(["", "", "", "Scala B", "c/o Ufficio 3"]),
            "city": rng.choice(cities), "email": "", "fullname": name,
            "country": _UID_BY_ISO[iso] if rng.random() > 0.01 else UNKNOWN_COUNTRY_UID,
            "phone": phone.format(rng.randint(0, 10**7 - 1)), "principal": 1,
            "state": str(rng.randint(13000, 14000)), "userUID": -1,
            "vat": f"{iso}{rng.randint(10**9, 10**10 - 1)}" if rng.random() < 0.15 else "", "zip": postal,
        }

    def _cart(self, rng: random.Random, payment: str) -> dict:
        items: dict[str, dict[str, Any]] = {}
        for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 5])):
            title, sku, price, variants = rng.choice(PRODUCTS)
            uid = 100000 + PRODUCTS.index((title, sku, price, variants)) * 17
            options = rng.choice(variants) if variants else ""
            key = f"{uid}#|#{options}" if options else str(uid)
            if key in items:
                items[key]["count"] += 1
                continue
            price_value = int(price) if price == price.to_integral_value() and rng.random() < 0.5 else price
            items[key] = {"count": rng.choice([1, 1, 1, 2, 3]), "price": price_value, "options": options,
                          "title": title, "sku": f"{sku}-{options.split('_')[0]}" if sku and options else sku}
        shipping_name, shipping_cost = rng.choice(SHIPPING)
        fee = Decimal(0)
        if payment == "mark":
            fee = Decimal("10.00") if rng.random() < 0.8 else Decimal(0)
        coupon, sale = "", Decimal("0.00")
        if rng.random() < 0.2:
            coupon = rng.choice(["ESTATE10", "WELCOME5", "BLACKFRIDAY"])
            sale = {"ESTATE10": Decimal("10.00"), "WELCOME5": Decimal("5"), "BLACKFRIDAY": Decimal("15.50")}[coupon]
        goods = sum((Decimal(str(i["price"])) * i["count"] for i in items.values()), Decimal(0))
        sale = min(sale, goods)
        total = goods + shipping_cost + fee - sale
        return {"total": total, "items": items, "couponCode": coupon, "saleAmount": sale,
                "shippingAmount": shipping_cost, "shippingProfile": shipping_name, "paymentAmount": fee,
                "paymentProfile": payment, "checkouted": True, "userUID": -1}

    def _tracking(self, rng: random.Random, order: SimOrder, ts: int) -> dict:
        courier = rng.choice(["BRT", "GLS", "DHL", "POSTE"])
        numbers = [f"{rng.randint(10**12, 10**13 - 1)}"]
        if rng.random() < 0.1:
            numbers.append(str(int(numbers[0]) + 1))
        return {"url": f"https://tracking.example.com/{order.order_id}", "courier": courier,
                "tracking": ",".join(numbers),
                "pickup_date": datetime.fromtimestamp(ts, tz=ROME).strftime("%Y-%m-%d")}

    def _add_order(self, ts: int, status: int) -> SimOrder:
        rng = self.rng
        iso = _weighted(rng, _COUNTRY_WEIGHTS)
        billing = self._address(rng, iso)
        local, domain = billing["fullname"].split(" ")[0], rng.choice(["example.com", "example.it", "mail.example"])
        ascii_local = "".join(c for c in local.lower() if c.isascii() and c.isalnum()) or "cliente"
        billing["email"] = f"{ascii_local}.{rng.randint(1, 999)}@{domain}"
        delivery = dict(billing) if rng.random() < 0.8 else {**self._address(rng, iso), "email": billing["email"]}
        payment = _weighted(rng, PAYMENTS)
        cart = self._cart(rng, payment)
        order_id = f"132_{ts:08x}{rng.randrange(16**5):05x}"
        raw = {
            "orderID": order_id, "billing": billing, "delivery": delivery, "cart": cart, "total": cart["total"],
            "userUID": -1, "orderDate": {"sec": ts, "usec": rng.randrange(10**6)},
            "method": cart["shippingProfile"], "payment": payment, "status": status,
            "message": rng.choice(["", "", "Please ring twice", "Lasciare al portiere, grazie!"]),
            "transactionID": f"txn_{rng.randrange(16**14):014x}", "iso": {"orderDate": iso_with_offset(ts)},
            "customer": {"id": f"{rng.randrange(16**24):024x}"},
        }
        order = SimOrder(raw, str(self._next_short), LOCALES[iso])
        self._next_short += 1
        self._event(order, ts)
        if status >= 1:
            self._event(order, min(ts + rng.randint(60, 7200), self.now))
        if status in SHIPPED and rng.random() < 0.92:
            order.tracking = self._tracking(rng, order, ts)
        self.orders[order_id] = order
        return order

    # -- what the API answers ---------------------------------------------------
    def by_date(self) -> list[SimOrder]:
        return sorted(self.orders.values(), key=lambda o: (o.ts, o.order_id), reverse=True)

    def summary(self, order: SimOrder, nodes: set[str], *, with_events: bool = False) -> dict:
        entry = {"orderID": order.order_id, "total": order.order["total"], "orderDate": iso_with_offset(order.ts),
                 "status": order.listed, "iso": {"orderDate": iso_with_offset(order.ts)}}
        if entry["status"] is MISSING:
            del entry["status"]
        if "short_id" in nodes:
            entry["short_id"] = order.short_id
        for node in ("billing.email", "billing.fullname", "delivery.email", "delivery.fullname"):
            if node in nodes:
                section, key = node.split(".")
                entry.setdefault(section, {})[key] = order.order.get(section, {}).get(key) \
                    if isinstance(order.order.get(section), dict) else None
        if "payment" in nodes:
            entry["payment"] = order.order.get("payment")
        if with_events:
            entry["locale"] = order.locale
            entry["events"] = [{"eventId": e.id, "iso_date": iso_with_offset(e.ts, colon=True)}
                               for e in order.events]
        return entry

    def legacy(self, order: SimOrder) -> dict:
        raw = copy.deepcopy(order.order)
        cart = raw.get("cart")
        if isinstance(cart, dict) and isinstance(cart.get("items"), dict):
            items = []
            for key, item in cart["items"].items():
                uid = key.split("#|#")[0]
                items.append({**item, "product_uid": int(uid) if uid.isdigit() else uid,
                              "product_endpoint": f"https://connect.storeden.com/v1.1/products/product.json?uid={uid}"})
            cart["items"] = items
        raw.pop("message", None)
        raw.pop("customer", None)
        return raw

    def changed_between(self, start: int, end: int) -> list[SimOrder]:
        return [o for o in self.by_date() if any(start < e.ts < end for e in o.events)]

    # -- moving the shop forward -------------------------------------------------
    def advance(self, new_orders: int = 0, status_changes: int = 0, new_tracking: int = 0,
                now: float | None = None) -> dict:
        """New orders, status moves and parcels at `now`; returns the orderIDs touched."""
        self._advances += 1
        rng = random.Random(f"{self.seed}-advance-{self._advances}")
        saved_rng, self.rng = self.rng, rng
        try:
            now_ts = int(now if now is not None else time.time())
            self.now = max(self.now, now_ts)
            created, changed, tracked = [], [], []
            for _ in range(new_orders):
                created.append(self._add_order(now_ts, status=rng.choice([0, 1, 1, 2])).order_id)
            movable = sorted((o for o in self.orders.values() if type(o.status) is int and o.status in (0, 1, 2, 3)
                              and o.order_id not in created), key=lambda o: o.order_id)
            for order in rng.sample(movable, min(status_changes, len(movable))):
                order.order["status"] = {0: 1, 1: 2, 2: 3, 3: 4}[cast(int, order.status)]
                if order.status == 3 and order.tracking is None:
                    order.tracking = self._tracking(rng, order, now_ts)
                self._event(order, now_ts)
                changed.append(order.order_id)
            waiting = sorted((o for o in self.orders.values() if o.status in SHIPPED and o.tracking is None
                              and o.order_id not in changed), key=lambda o: o.order_id)
            for order in rng.sample(waiting, min(new_tracking, len(waiting))):
                order.tracking = self._tracking(rng, order, now_ts)
                self._event(order, now_ts)
                tracked.append(order.order_id)
            return {"created": created, "changed": changed, "tracked": tracked}
        finally:
            self.rng = saved_rng

    def set_status(self, order_id: str, details: object = SAME, *, listed: object = SAME) -> None:
        """Give an order a status of any shape: `details` in order.json, `listed` in list.json and
        orders_filter.json (by default the same as the details); MISSING leaves the key out. Records an event."""
        order = self.orders[order_id]
        if details is MISSING:
            order.order.pop("status", None)
        elif details is not SAME:
            order.order["status"] = details
        order.listed_status = listed
        self._event(order, max(int(time.time()), self.now))

    def corrupt(self, order_id: str, kind: str) -> None:
        """Break one order the way real data breaks, for the hostile-data tests."""
        raw = self.orders[order_id].order
        billing = raw.setdefault("billing", {})
        items = raw.get("cart", {}).get("items") if isinstance(raw.get("cart"), dict) else None
        first = next(iter(items.values())) if isinstance(items, dict) and items else None
        if kind == "missing_email":
            billing.pop("email", None)
            if isinstance(raw.get("delivery"), dict):
                raw["delivery"].pop("email", None)
        elif kind == "control_chars":
            billing["fullname"] = "Ma\x00rio\x07 Ro\x1bssi\u0085"
            if first:
                first["title"] = "Lamp\x0b\x0c \ufffe shade"
        elif kind == "float_price" and first:
            first["price"] = Decimal("0.30000000000000004")
        elif kind == "unknown_country":
            billing["country"] = "424242"
        elif kind == "huge_name":
            billing["fullname"] = "Z" * 10000
        elif kind == "bad_types":
            raw["cart"] = None
            raw["total"] = "lots"
        elif kind == "empty_cart":
            raw["cart"]["items"] = {}
        elif kind == "negative_price" and first:
            first["price"] = -5
        elif kind == "list_items" and isinstance(items, dict):
            raw["cart"]["items"] = [dict(v, product_uid=k.split("#|#")[0]) for k, v in items.items()]
        elif kind not in CORRUPTIONS:
            raise ValueError(f"unknown corruption {kind!r}; known: {', '.join(CORRUPTIONS)}")
        self._event(self.orders[order_id], max(int(time.time()), self.now))
