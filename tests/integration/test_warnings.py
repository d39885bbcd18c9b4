"""Orders published with a warning, end to end: a discount larger than the goods reaches the feed capped,
and `feedsvc status` names every order that carries a warning, grouped by kind."""

from decimal import Decimal

import pytest
from lxml import etree

from feedsvc.publish import current_snapshot
from feedsvc.storeden.shop import UNKNOWN_COUNTRY_UID
from tests.helpers.servers import run_feedsvc


def _capped_coupon(order, code):
    """The issue's order: goods 30.00, a coupon of 50.00, free shipping, no fee, Storeden's total 0.00."""
    cart = order.order["cart"]
    cart["items"] = {"700100": {"count": 1, "price": Decimal("30.00"), "options": "", "title": "Pen&notebook set",
                                "sku": "PEN-NB"}}
    cart.update(couponCode=code, saleAmount=Decimal("50.00"), shippingAmount=Decimal("0"),
                paymentAmount=Decimal("0"), paymentProfile="stripe", total=Decimal("0.00"))
    order.order.update(payment="stripe", total=Decimal("0.00"))


@pytest.mark.shop(seed=31, orders=60)
def test_capped_discounts_and_defaulted_countries_are_published_and_listed_by_kind(storeden_shop, storeden_env,
                                                                                    storeden_settings):
    shop, env = storeden_shop, storeden_env
    recent = [o for o in shop.by_date() if o.status in (1, 2, 3, 4)]
    coupons = {recent[0].order_id: "MEGA50", recent[1].order_id: "WELCOME&amp;50"}
    for order in recent[:2]:
        _capped_coupon(order, coupons[order.order_id])
    strangers = recent[2:5]
    for order in strangers:
        order.order["billing"]["country"] = order.order["delivery"]["country"] = UNKNOWN_COUNTRY_UID
    assert run_feedsvc(["sync", "--quiet"], env).returncode == 0
    rendered = run_feedsvc(["render"], env)
    assert rendered.returncode == 0, rendered.stderr
    status = run_feedsvc(["status"], env)
    assert status.returncode == 0, status.stderr

    feed = etree.parse(str(current_snapshot(storeden_settings.snapshots_dir).xml_path)).getroot()
    by_code = {order.findtext("CODE"): order for order in feed}
    for order in recent[:2]:
        published = by_code[order.short_id]
        assert published.findtext("TOTAL_PRICE/WITH_VAT") == "0.00"
        assert [i.findtext("TOTAL_PRICE/WITH_VAT") for i in published.iterfind("ORDER_ITEMS/ITEM")
                if i.findtext("TYPE") == "discount"] == ["-30.00"]
    assert by_code[recent[1].short_id].findtext("ORDER_ITEMS/ITEM[TYPE='discount']/NAME") == "Coupon WELCOME&50"

    lines = status.stdout.splitlines()
    discount_at = next(i for i, line in enumerate(lines) if "(MAP:discount): 2 orders" in line)
    country_at = next(i for i, line in enumerate(lines) if "(MAP:country): 3 orders" in line)
    discount_lines = lines[discount_at + 1:discount_at + 3]
    assert all(line.startswith("    ") for line in discount_lines)
    for order in recent[:2]:
        line = next(line for line in discount_lines if order.order_id in line)
        assert f"({order.short_id})" in line and coupons[order.order_id].replace("&amp;", "&") in line
    country_lines = "\n".join(lines[country_at + 1:country_at + 7])
    for order in strangers:
        assert country_lines.count(order.order_id) == 2  # billing and delivery
    assert "quarantined:  0" in status.stdout
