"""Statuses of every shape, over real sockets: numeric strings are statuses, anything else is quarantined
with its reason, excluded statuses stay out whatever their shape, and shipped ones get their parcels."""

import time
from decimal import Decimal

import pytest
from lxml import etree

from feedsvc import jsonutil
from feedsvc.build import build_and_publish
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.shop import MISSING, Shop
from feedsvc.sync import run_sync

# name: (status in order.json, status in list.json / orders_filter.json or SAME)
SAME = object()
PUBLISHED = {"sent-string": ("3", SAME), "sent-spaces": (" 3 ", SAME), "sent-zero": ("03", SAME),
             "delivered-string": ("4", SAME), "list-garbage": (4, "x"), "details-silent": (MISSING, "3")}
EXCLUDED = {"archived-string": ("6", SAME), "aborted-spaces": (" 7 ", SAME), "archived-zero": ("006", SAME),
            "details-archived": ("6", "3"), "listed-archived": (3, "6")}
QUARANTINED = {"float": (Decimal("3.0"), SAME), "float-string": ("3.0", SAME), "bool": (True, SAME),
               "unknown": (42, SAME), "negative": (-1, SAME), "null": (None, SAME), "missing": (MISSING, SAME),
               "word": ("Sent", SAME), "details-bad": ("3.0", "3")}
CASES = {**PUBLISHED, **EXCLUDED, **QUARANTINED}


def _feed(settings):
    root = etree.parse(str(current_snapshot(settings.snapshots_dir).xml_path)).getroot()
    return {order.findtext("CODE"): [p.text for p in order.iterfind("PACKAGE_NUMBER")] for order in root}


@pytest.mark.shop(seed=23, orders=150)
def test_statuses_of_every_shape(storeden_shop, storeden_settings):
    shop, settings, now = storeden_shop, storeden_settings, storeden_shop.now
    # shipped orders with a parcel, in the window: their tracking shows whether the status was read
    candidates = [o for o in shop.by_date() if o.status in (3, 4) and o.tracking and o.ts > now - 6 * 86400]
    assert len(candidates) >= len(CASES)
    chosen = dict(zip(CASES, candidates))
    for name, (details, listed) in CASES.items():
        kwargs = {} if listed is SAME else {"listed": listed}
        shop.set_status(chosen[name].order_id, details, **kwargs)
    assert run_sync(settings, progress=False).status == "ok"
    build_and_publish(settings)
    feed = _feed(settings)
    with Store.open(settings) as store:
        quarantined = {q.order_id: q.reason for q in store.list_quarantine()}

    for name in PUBLISHED:
        order = chosen[name]
        assert feed.get(order.short_id) == order.tracking["tracking"].split(","), name
    for name in EXCLUDED:
        assert chosen[name].short_id not in feed, name
        assert chosen[name].order_id not in quarantined, name
    for name in QUARANTINED:
        assert chosen[name].short_id not in feed, name
        assert "status" in quarantined[chosen[name].order_id], name
    assert "'3.0' is not a Storeden status" in quarantined[chosen["float-string"].order_id]
    assert "missing" in quarantined[chosen["missing"].order_id]
    assert "order.json" in quarantined[chosen["details-bad"].order_id]

    # Later: an order archived with a string status leaves the feed; a quarantined one gets a real status.
    leaving, mended = chosen["sent-string"], chosen["unknown"]
    shop.set_status(leaving.order_id, "6")
    shop.set_status(mended.order_id, "4")
    later = run_sync(settings, progress=False)
    assert later.kind == "incremental" and later.status == "ok"
    build_and_publish(settings)
    feed = _feed(settings)
    assert leaving.short_id not in feed
    assert feed[mended.short_id] == mended.tracking["tracking"].split(",")


def test_a_store_from_an_older_version_with_unread_statuses_is_published_right(settings):
    # Older versions stored NULL for a status they could not read ("3", "6"): the build reads it again.
    shop = Shop(seed=24, orders=30, now=time.time() - 5)
    orders = [o for o in shop.by_date() if o.status in (1, 2)][:3]
    with Store.open(settings) as store:
        for order, status in zip(orders, ("3", "6", "x")):
            order.order["status"] = status
            store.upsert_summary(order.order_id, status=None, order_ts=order.ts, short_id=order.short_id,
                                 locale=None, summary=shop.summary(order, {"short_id"}))
            store.save_order_raw(order.order_id, jsonutil.dumps(order.order), status=None, order_ts=order.ts)
    result = build_and_publish(settings)
    assert set(_feed(settings)) == {orders[0].short_id}
    assert result.quarantined == 1
