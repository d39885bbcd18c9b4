"""Push mode end to end over real sockets: the Storeden simulator → sync → publish → push → the Retino simulator.

The real store, the real pipeline and the real CLI (in a subprocess where the
exit code and the one-line messages matter). Waits of the Retino client are
recorded by a fake clock, never slept, so a storm costs no real time.
"""

import json
import math
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from feedsvc.config import load_settings
from feedsvc.pipeline import run_pipeline
from feedsvc.push import PushStopped, retino_client, run_push
from feedsvc.store import Store
from feedsvc.storeden.shop import Shop
from tests.helpers.clocks import FakeTime
from tests.helpers.push import STORE, TOKEN, Rig
from tests.helpers.servers import run_feedsvc


@pytest.fixture
def rig(data_dir, start_storeden, start_retino):
    """make(shop=None, token=…, store_id=…, **settings) → a Rig; its simulators stop after the test."""
    def make(shop=None, **extra):
        storeden = start_storeden(shop or Shop(seed=7, orders=260, now=time.time() - 600, days=6))
        return Rig(data_dir, storeden, start_retino(token=TOKEN, store_ids=(STORE,)), **extra)
    return make


def package_count(feed):
    return sum(len(order.findall("PACKAGE_NUMBER")) for order in feed.values())


def test_the_first_push_sends_every_feed_order_in_bulk_calls_and_a_second_sends_nothing(rig):
    shop = Shop(seed=7, orders=260, now=time.time() - 600, days=6)
    broken = next(o for o in shop.by_date() if o.status in (1, 2))
    shop.corrupt(broken.order_id, "bad_types")  # quarantined: never pushed
    r = rig(shop)
    feed = r.publish()
    assert broken.short_id not in feed and len(feed) > 200

    first = run_push(r.settings)
    calls = r.calls()
    assert len(r.order_calls(calls)) == math.ceil(len(feed) / 100) == first.calls - first.shipments
    assert [c["path"] for c in r.order_calls(calls)] == ["/api/v2/orders/bulk"] * 3
    arrived = r.orders()
    assert set(arrived) == set(feed) and all(o["writes"] == 1 for o in arrived.values())
    assert first.confirmed == first.sent == len(feed) and not first.rejected
    shipments = r.retino.control("shipments")
    assert len(shipments) == first.shipments == package_count(feed) > 0
    ids = {o["id"]: code for code, o in arrived.items()}
    assert {(ids[s["order"]], s["tracking_number"]) for s in shipments} == \
        {(code, p.text) for code, o in feed.items() for p in o.findall("PACKAGE_NUMBER")}

    second = run_push(r.settings)
    assert r.calls(len(calls)) == [] and second.sent == second.calls == 0 and second.unchanged == len(feed)
    status = run_feedsvc(["status"], r.env)
    assert status.returncode == 0
    assert f"in Retino:    {len(feed)} confirmed, 0 pending, 0 rejected" in status.stdout
    assert "last push:    ok" in status.stdout


def test_a_shipped_order_goes_alone_next_time_dispatched_with_its_shipment(rig):
    r = rig()
    r.publish()
    run_push(r.settings)
    before = len(r.calls())
    picked = next(o for o in r.shop.by_date()
                  if o.status == 2 and o.tracking is None and o.ts > time.time() - 5 * 86400)
    r.shop.set_status(picked.order_id, 3)
    picked.tracking = {"url": "https://tracking.example.com/x", "courier": "BRT", "tracking": "084000012345678",
                       "pickup_date": "2026-11-30"}
    shipped_at = picked.last_event

    outcome = run_pipeline(r.settings, progress=False)
    assert outcome.push_error is None and outcome.push.sent == 1
    calls = r.calls(before)
    assert [(c["path"], c.get("codes")) for c in r.order_calls(calls)] == [("/api/v2/orders", [picked.short_id])]
    sent = r.orders()[picked.short_id]
    names = [s["name"] for s in sent["statuses"]]
    assert names == ["PAID", "PICKING", "DISPATCHED"]
    assert sent["statuses"][-1]["date"] == datetime.fromtimestamp(shipped_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sent["statuses"][0]["date"] == datetime.fromtimestamp(picked.ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [s for s in r.retino.control("shipments") if s["order"] == sent["id"]] == [
        {"order": sent["id"], "tracking_number": "084000012345678", "carrier_hint": "BRT",
         "delivery_type": "TO_ADDRESS", "id": r.retino.control("shipments")[-1]["id"]}]
    assert [c["path"] for c in calls] == ["/api/v2/orders", "/api/v2/tracking-shipping"]
    assert [p.text for p in r.feed()[picked.short_id].findall("PACKAGE_NUMBER")] == ["084000012345678"]


def test_a_price_inconsistent_order_is_reported_and_the_rest_go_through(rig):
    shop = Shop(seed=8, orders=150, now=time.time() - 600, days=6)
    odd = next(o for o in shop.by_date() if o.status in (1, 2))
    exact = Decimal(str(odd.order["total"]))
    odd.order["total"] = odd.order["cart"]["total"] = exact + Decimal("0.03")  # the feed writes ROUNDING 0.03
    r = rig(shop)
    r.retino.control("settings", {"items_must_add_up": True})
    feed = r.publish()
    assert feed[odd.short_id].findtext("TOTAL_PRICE/ROUNDING") == "0.03"

    result = run_push(r.settings)
    assert list(result.rejected) == [odd.short_id] and "Price mismatch: items" in result.rejected[odd.short_id]
    assert result.confirmed == len(feed) - 1 and set(r.orders()) == set(feed) - {odd.short_id}

    pushed = run_feedsvc(["push"], r.env)  # nothing changed: not sent again, still listed, exit 4
    assert pushed.returncode == 4, pushed.stderr
    assert f"rejected {odd.short_id}: Price mismatch: items" in pushed.stdout and "0 sent" in pushed.stdout
    status = run_feedsvc(["status"], r.env)
    assert f"{len(feed) - 1} confirmed, 0 pending, 1 rejected" in status.stdout
    assert f"rejected {odd.short_id}: Price mismatch" in status.stdout
    later = run_push(r.settings, now=time.time() + 3601)  # an hour on, the refused JSON is tried once more
    assert later.sent == 1 and list(later.rejected) == [odd.short_id]

    odd.order["total"] = odd.order["cart"]["total"] = exact  # the shop fixes it
    r.shop.set_status(odd.order_id)
    outcome = run_pipeline(r.settings, progress=False)
    assert outcome.push.confirmed == 1 and not outcome.push.rejected
    assert set(r.orders()) == set(feed)
    with Store.open(r.settings) as store:
        assert store.rejected_orders(0) == []


@pytest.mark.parametrize("setting, token, store_id", [
    ("FEEDSVC_RETINO_TOKEN", "rt_live_wrong", STORE),
    ("FEEDSVC_RETINO_STORE_ID", TOKEN, "xyz"),
])
def test_a_wrong_token_or_store_id_stops_the_push_with_one_line(rig, setting, token, store_id):
    r = rig(Shop(seed=9, orders=40, now=time.time() - 600, days=6), token=token, store_id=store_id)
    r.publish()
    pushed = run_feedsvc(["push"], r.env)
    assert pushed.returncode == 1
    lines = pushed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("feedsvc push: ") and setting in lines[0]
    assert ("Traceback" not in pushed.stderr + pushed.stdout and token not in pushed.stderr) or token == TOKEN
    assert r.orders() == {}
    synced = run_feedsvc(["sync", "--publish"], r.env)  # the worker's path: the feed is published, the push named
    assert synced.returncode == 1 and "published" in synced.stdout and setting in synced.stderr
    with Store.open(r.settings) as store:
        assert store.last_push_run().status in ("auth_failed", "unknown_store")
        assert store.push_counts(0).confirmed == 0


def test_push_settings_missing_their_pair_are_refused_at_start_up(rig):
    r = rig(Shop(seed=9, orders=10, now=time.time() - 600, days=6))
    env = {k: v for k, v in r.env.items() if k != "FEEDSVC_RETINO_STORE_ID"}
    for command in (["push"], ["status"], ["sync"]):
        refused = run_feedsvc(command, env)
        assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
        assert "FEEDSVC_RETINO_STORE_ID: is missing: FEEDSVC_RETINO_TOKEN is set" in refused.stderr
    off = {k: v for k, v in env.items() if k != "FEEDSVC_RETINO_TOKEN"}
    refused = run_feedsvc(["push"], off)
    assert refused.returncode == 2 and "FEEDSVC_RETINO_TOKEN: push mode is off" in refused.stderr
    status = run_feedsvc(["status"], off)
    assert status.returncode == 0 and "push:         off (feed mode only" in status.stdout
    helped = run_feedsvc(["retino-sandbox", "--help"], off)
    assert helped.returncode == 0 and "--port" in helped.stdout and "--items-must-add-up" in helped.stdout


@pytest.mark.slow
def test_a_storm_of_429_and_5xx_loses_and_duplicates_no_order(rig):
    r = rig(FEEDSVC_RETINO_SHIPMENTS="0")
    feed = r.publish()
    fake = FakeTime()
    # half the calls fail, some after the orders were stored (a gateway giving up on done work)
    r.retino.control("faults", {"rate": 0.5, "rate_statuses": [429, 500, 502, 503, 504], "retry_after": "1",
                                "after": True, "seed": 3})
    stops = 0
    with retino_client(r.settings, sleep=fake.sleep, clock=fake, max_attempts=4) as client:
        for _ in range(20):  # bounded: each run confirms what it can, the rest goes next time
            try:
                result = run_push(r.settings, client=client)
            except PushStopped:
                stops += 1
                continue
            if result.sent == 0:
                break
        else:
            pytest.fail("the storm outlasted 20 pushes")
    injected = [c for c in r.retino.control("calls") if c.get("injected")]
    assert len(injected) >= 5 and any(c.get("done") for c in injected) and fake.sleeps
    arrived = r.orders()
    assert set(arrived) == set(feed) and len(r.retino.control("orders")) == len(feed)
    with Store.open(r.settings) as store:
        states = {row.order_id: row for row in store.push_candidates(0)}
    assert {row.state for row in states.values()} == {"confirmed"}
    assert {row.code: row.retino_id for row in states.values()} == {code: o["id"] for code, o in arrived.items()}

    # shipments in a storm that fails before doing the work: each parcel arrives exactly once
    r.retino.control("faults", {"rate": 0.5, "after": False, "seed": 4})
    shipping = load_settings({**r.env, "FEEDSVC_RETINO_SHIPMENTS": "1"})
    with retino_client(shipping, sleep=fake.sleep, clock=fake, max_attempts=4) as client:
        for _ in range(40):
            try:
                if run_push(shipping, client=client).shipments == 0:
                    break
            except PushStopped:
                continue
        else:
            pytest.fail("the storm outlasted 40 pushes")
    sent = [(s["order"], s["tracking_number"]) for s in r.retino.control("shipments")]
    ids = {code: o["id"] for code, o in arrived.items()}
    assert sorted(sent) == sorted((ids[code], p.text) for code, o in feed.items() for p in o.findall("PACKAGE_NUMBER"))


@pytest.mark.slow
def test_dry_run_prints_the_json_and_changes_nothing_then_all_resends_everything(rig):
    r = rig(Shop(seed=10, orders=130, now=time.time() - 600, days=6), FEEDSVC_RETINO_SHIPMENTS="0")
    feed = r.publish()
    dry = run_feedsvc(["push", "--dry-run"], r.env)
    assert dry.returncode == 0, dry.stderr
    printed = json.loads(dry.stdout)
    assert [o["code"] for o in printed] and {o["code"] for o in printed} == set(feed)
    assert all(o["store_id"] == STORE for o in printed) and "would be sent (2 calls)" in dry.stderr
    assert r.calls() == []
    with Store.open(r.settings) as store:
        assert store.push_counts(0).confirmed == 0 and store.last_push_run() is None

    assert run_feedsvc(["push"], r.env).returncode == 0
    again = run_feedsvc(["push", "--dry-run"], r.env)
    assert json.loads(again.stdout) == []
    before = len(r.calls())
    everything = run_feedsvc(["push", "--all"], r.env)
    assert everything.returncode == 0 and f"{len(feed)} sent" in everything.stdout
    assert len(r.calls(before)) == math.ceil(len(feed) / 100)
    assert printed == [{k: v for k, v in r.orders()[o["code"]].items() if k not in ("id", "writes")}
                       for o in printed]


def test_an_order_aborted_after_it_reached_retino_is_reported_not_deleted(rig):
    r = rig(Shop(seed=12, orders=60, now=time.time() - 600, days=6))
    r.publish()
    run_push(r.settings)
    picked = next(o for o in r.shop.by_date() if o.status == 1)
    r.shop.set_status(picked.order_id, 7)
    before = len(r.calls())
    outcome = run_pipeline(r.settings, progress=False)
    assert outcome.push.sent == 0 and r.calls(before) == []
    assert len(outcome.push.left_retino) == 1 and f"{picked.short_id} is Aborted in Storeden" in \
        outcome.push.left_retino[0]
    assert picked.short_id in r.orders() and picked.short_id not in r.feed()
    status = run_feedsvc(["status"], r.env)
    assert f"{picked.short_id}: Aborted in Storeden since the push; still in Retino" in status.stdout
    assert run_pipeline(r.settings, progress=False).push.left_retino == []  # reported once


def test_a_bulk_answer_that_names_no_order_costs_single_calls_once_not_a_resend_every_push(rig):
    r = rig(Shop(seed=13, orders=45, now=time.time() - 600, days=6), FEEDSVC_RETINO_SHIPMENTS="0")
    r.retino.control("settings", {"bulk_shape": "silent"})
    feed = r.publish()
    first = run_push(r.settings)
    assert first.calls == 1 and first.unconfirmed == len(feed) and first.confirmed == 0
    assert set(r.orders()) == set(feed)  # they did arrive; the answer just did not say so
    second = run_push(r.settings)  # each alone: POST /orders answers 200 with the order's id
    assert second.calls == len(feed) and second.confirmed == len(feed) and second.unconfirmed == 0
    before = len(r.calls())
    assert run_push(r.settings).calls == 0 and r.calls(before) == []
    with Store.open(r.settings) as store:
        assert {c.retino_id for c in store.push_candidates(0)} == {o["id"] for o in r.orders().values()}


def test_without_a_shipments_endpoint_shipments_are_off_for_the_push_with_one_warning(rig, caplog):
    r = rig(Shop(seed=14, orders=60, now=time.time() - 600, days=6))
    r.retino.control("settings", {"shipments_endpoint": False})
    feed = r.publish()
    assert package_count(feed) > 1
    with caplog.at_level("WARNING", logger="feedsvc.push"):
        result = run_push(r.settings)
    assert result.confirmed == len(feed) and result.shipments == 0
    assert len(result.shipment_problems) == 1 and "404" in result.shipment_problems[0]
    assert [rec.message for rec in caplog.records if "tracking-shipping" in rec.message] == result.shipment_problems
    shipment_calls = [c for c in r.calls() if c["path"].endswith("/tracking-shipping")]
    assert len(shipment_calls) == 1  # the first 404 stopped the others
    r.retino.control("settings", {"shipments_endpoint": True})  # Retino adds it: the next push sends them all
    assert run_push(r.settings).shipments == package_count(feed)
