"""Hypothesis strategies for hostile Storeden order payloads.

A payload starts as a well-formed order (the shape of specs/storeden-api.md
§4) and is then damaged: fields dropped, unknown fields added, values of the
wrong type, huge strings, control characters and odd Unicode, negative and
fractional prices, empty carts, `cart.items` as an object or an array. The
order's identity (`orderID`) is kept so a test can look the order up in the
feed or in quarantine afterwards.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import strategies as st

# Characters XML 1.0 forbids, C1 controls, separators, bidi marks, combining
# marks, a lone surrogate, noncharacters and astral-plane symbols.
NASTY_CHARACTERS = [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\t", "\r", "\n",
    "\u2028", "\u2029", "\u200b", "\u200e", "\u202e", "\ufeff", "\ufffd", "\ufffe", "\uffff",
    "\ud800", "\udfff", "e\u0301", "\u0000", "&", "<", ">", "]]>", "&amp;", "&#0;", "\"", "'",
    "\U0001f600", "\U0010ffff", "ß", "İ", "ﬁ", "Å", "漢字", "עברית", "\u0627\u0644",
]

nasty_text = st.lists(
    st.one_of(st.sampled_from(NASTY_CHARACTERS), st.text(max_size=8)), max_size=12,
).map("".join)

huge_text = st.builds(lambda piece, count: piece * count,
                      st.sampled_from(["a", "€", "x<y&z ", "\U0001f600", "\x07"]),
                      st.integers(min_value=256, max_value=200_000))

any_text = st.one_of(st.text(max_size=40), nasty_text, huge_text)

money = st.one_of(
    st.integers(min_value=-10**6, max_value=10**6),
    st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2,
                allow_nan=False, allow_infinity=False),
    st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000"), places=7,
                allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("0"), Decimal("-0.00"), Decimal("0.005"), Decimal("-0.005"),
                     Decimal("1E+3"), Decimal("1E-9"), Decimal("99999999999999999999.99"), 10**30]),
)

wrong_type = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20), money, any_text,
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), money, any_text)
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)

ADDRESS_KEYS = ("fullname", "email", "phone", "addr1", "addr2", "city", "zip", "state", "country",
                "vat", "principal", "userUID")
CART_KEYS = ("items", "total", "couponCode", "saleAmount", "shippingAmount", "shippingProfile",
             "paymentAmount", "paymentProfile", "checkouted", "userUID")
ORDER_KEYS = ("billing", "delivery", "cart", "total", "userUID", "orderDate", "method", "payment",
              "status", "message", "transactionID", "iso", "customer", "short_id", "currency")


def _good_address(name: str, email: str) -> dict:
    return {"fullname": name, "email": email, "phone": "+39/3471234567", "addr1": "Via Roma 22",
            "addr2": "", "city": "Torino", "zip": "10121", "state": "13637", "country": "118",
            "vat": "", "principal": 1, "userUID": -1}


@st.composite
def cart_item(draw) -> dict:
    item = {"count": draw(st.one_of(st.integers(min_value=1, max_value=5), wrong_type)),
            "price": draw(money),
            "title": draw(any_text),
            "sku": draw(st.one_of(st.just(""), any_text)),
            "options": draw(st.one_of(st.just(""), any_text))}
    if draw(st.booleans()):
        item["product_uid"] = draw(st.one_of(st.integers(min_value=1, max_value=10**7), wrong_type))
    return item


@st.composite
def hostile_order(draw, order_id: str, order_sec: int) -> dict:
    """A damaged order payload; `orderID` stays `order_id`, everything else may break.

    `order_sec` (inside the feed window) is the date it starts with; the
    damage may replace even that, so the list summary keeps the real date.
    """
    items = draw(st.lists(cart_item(), max_size=4))
    if draw(st.booleans()):
        cart_items = items  # legacy_order.json form
    else:
        cart_items = {f"{1000 + n}#|#{item.get('options', '')}": item for n, item in enumerate(items)}
    cart = {"items": cart_items, "total": draw(money), "couponCode": draw(st.one_of(st.just(""), any_text)),
            "saleAmount": draw(money), "shippingAmount": draw(money),
            "shippingProfile": draw(any_text), "paymentAmount": draw(money),
            "paymentProfile": draw(st.sampled_from(["credit-card", "mark", "transfer", ""])),
            "checkouted": True, "userUID": -1}
    order = {
        "orderID": order_id,
        "billing": _good_address(draw(any_text), draw(st.one_of(st.just("a@example.com"), any_text))),
        "delivery": _good_address(draw(any_text), "a@example.com"),
        "cart": cart, "total": cart["total"], "userUID": -1,
        "orderDate": {"sec": order_sec, "usec": 0},
        "method": cart["shippingProfile"], "payment": cart["paymentProfile"],
        "status": draw(st.sampled_from([0, 1, 2, 3, 4, 5, 8])),
        "message": draw(any_text), "transactionID": "txn_1",
        "iso": {"orderDate": "2025-06-10T10:04:28+0100"}, "customer": {"id": "5d5d09e5e21692eca2601968"},
    }
    # Damage: each step picks a part of the order and breaks it in one way.
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        where = draw(st.sampled_from(["order", "billing", "delivery", "cart", "item"]))
        target_keys = {"order": ORDER_KEYS, "billing": ADDRESS_KEYS, "delivery": ADDRESS_KEYS,
                       "cart": CART_KEYS, "item": ("count", "price", "title", "sku", "options")}[where]
        container = _container(order, where, draw)
        if not isinstance(container, dict):
            continue
        action = draw(st.sampled_from(["drop", "retype", "extra", "text"]))
        key = draw(st.sampled_from(target_keys))
        if action == "drop":
            container.pop(key, None)
        elif action == "retype":
            container[key] = draw(wrong_type)
        elif action == "extra":
            extra_key = draw(st.text(min_size=1, max_size=12))
            if extra_key != "orderID":
                container[extra_key] = draw(json_value)
        else:
            container[key] = draw(any_text)
    return order


def _container(order: dict, where: str, draw):
    if where == "order":
        return order
    if where in ("billing", "delivery"):
        return order.get(where)
    cart = order.get("cart")
    if where == "cart" or not isinstance(cart, dict):
        return cart
    items = cart.get("items")
    values = list(items.values()) if isinstance(items, dict) else items if isinstance(items, list) else []
    return draw(st.sampled_from(values)) if values else None
