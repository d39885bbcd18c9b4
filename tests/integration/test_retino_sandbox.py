"""The Retino client against the Retino simulator over real sockets: bulk pushes, upserts, the price rule,
wrong token, unknown store, a storm of 429/5xx, statuses, partial updates, shipments, the command."""

import subprocess
import sys
import time
from dataclasses import replace

import httpx
import pytest

from feedsvc import jsonutil
from feedsvc.build import mapping_context_from
from feedsvc.config import defaults
from feedsvc.retino.answers import Confirmed, Rejected
from feedsvc.retino.api import RetinoAuthError, RetinoClient, RetinoNotFound, RetinoRejected, RetinoUnknownStore
from feedsvc.retino.context import checkout_labels
from feedsvc.retino.mapping import MappingError, map_order
from feedsvc.retino.push_payload import is_pickup, is_pushed, order_json, status_history
from feedsvc.retino.sandbox import RetinoSandboxServer
from feedsvc.storeden.shop import CHECKOUT_METHODS, Shop
from tests.helpers.clocks import FakeTime
from tests.helpers.servers import ROOT, free_port

DEFAULT_CONTEXT = mapping_context_from(defaults())

TOKEN = "rt_8f3c1a9d2b7e4f60"
STORE = "main-shop"
CONTEXT = replace(DEFAULT_CONTEXT, checkout_labels=checkout_labels(CHECKOUT_METHODS))


def shop_payloads(count, seed=5):
    """Pushed JSON for `count` orders of a generated Storeden shop, mapped exactly as the feed maps them."""
    shop = Shop(seed=seed, orders=count + count // 4 + 10, now=1_760_000_000)
    payloads = []
    for sim in shop.by_date():
        if not is_pushed(sim.status):
            continue
        try:
            order = map_order(sim.order, tracking=sim.tracking, summary={"short_id": sim.short_id,
                                                                         "locale": sim.locale}, context=CONTEXT).order
        except MappingError:
            continue
        history = status_history([(sim.status, sim.last_event)], pickup=is_pickup(order), order_ts=sim.ts)
        payloads.append(order_json(order, store_id=STORE, timezone=CONTEXT.timezone, statuses=history))
        if len(payloads) == count:
            return payloads
    raise AssertionError("the shop has too few pushable orders")


PAYLOADS = shop_payloads(250)


@pytest.fixture
def sandbox():
    with RetinoSandboxServer(token=TOKEN, store_ids=(STORE, "shop-uk")) as server:
        yield server


def make_client(sandbox, token=TOKEN, store=STORE, **options):
    fake = FakeTime()
    client = RetinoClient(token, store, base_url=sandbox.url, timeout=30, sleep=fake.sleep, clock=fake, **options)
    return client, fake


def api_calls(sandbox, path):
    return [c for c in sandbox.control("calls") if c["path"].endswith(path) and not c.get("injected")]


def stored(sandbox):
    return {o["code"]: o for o in sandbox.control("orders")}


# -- upserts and bulk ---------------------------------------------------------------------------------

def test_first_bulk_of_250_orders_takes_3_calls_and_a_resend_updates_them(sandbox):
    client, _ = make_client(sandbox)
    with client:
        first = client.upsert_all(PAYLOADS)
        orders = stored(sandbox)
        assert len(api_calls(sandbox, "/orders/bulk")) == 3 and api_calls(sandbox, "/orders") == []
        assert [len(c["codes"]) for c in api_calls(sandbox, "/orders/bulk")] == [100, 100, 50]
        assert set(orders) == {p["code"] for p in PAYLOADS}
        assert first == {code: Confirmed(orders[code]["id"]) for code in orders}
        second = client.upsert_all(PAYLOADS)
    assert second == first  # the same UUIDs: updated, not duplicated
    again = stored(sandbox)
    assert len(again) == 250 and all(o["writes"] == 2 for o in again.values())
    assert client.stats.calls["bulk_upsert"] == 6 and client.stats.retries == 0


def test_a_resent_order_answers_200_with_the_same_id(sandbox):
    client, _ = make_client(sandbox)
    with client:
        created = client.upsert(PAYLOADS[0])
        changed = dict(PAYLOADS[0], customer={"email": "changed@example.com"})
        updated = client.upsert(changed)
    assert (created.status, updated.status) == (201, 200) and created.id == updated.id
    assert stored(sandbox)[PAYLOADS[0]["code"]]["customer"] == {"email": "changed@example.com"}


@pytest.mark.parametrize("shape", ["split", "results"])
def test_a_price_mismatch_is_rejected_while_the_other_99_go_through(sandbox, shape):
    sandbox.control("settings", {"bulk_shape": shape})
    batch = [dict(p) for p in PAYLOADS[:100]]
    bad = batch[37]
    bad["price"] = {"with_vat": "1200", "without_vat": "1000", "vat": "210"}
    client, _ = make_client(sandbox)
    with client:
        results = client.bulk_upsert(batch)
    assert results.pop(bad["code"]) == Rejected("Price mismatch: 1000 + 210 ≠ 1200")
    assert len(results) == 99 and all(isinstance(r, Confirmed) and r.id for r in results.values())
    assert set(stored(sandbox)) == set(results)


def test_a_wrong_token_is_refused_and_so_is_a_scheme_word(sandbox):
    client, _ = make_client(sandbox, token="not-the-token")
    with client, pytest.raises(RetinoAuthError, match="FEEDSVC_RETINO_TOKEN"):
        client.upsert_all(PAYLOADS[:5])
    for header in (f"Bearer {TOKEN}", f"Token {TOKEN}", TOKEN[:-1], TOKEN + "0", TOKEN.upper(), ""):
        answer = httpx.post(f"{sandbox.url}/orders", headers={"Authorization": header}, json=PAYLOADS[0])
        assert answer.status_code == 401
    assert stored(sandbox) == {}


def test_an_unknown_store_stops_the_push_in_bulk_and_alone(sandbox):
    client, _ = make_client(sandbox, store="xyz")
    payloads = [dict(p, store_id="xyz") for p in PAYLOADS[:3]]
    with client:
        with pytest.raises(RetinoUnknownStore, match="FEEDSVC_RETINO_STORE_ID") as caught:
            client.upsert_all(payloads)
        assert "Store ID 'xyz' does not exist" in str(caught.value)
        with pytest.raises(RetinoUnknownStore):
            client.upsert(payloads[0])
    assert stored(sandbox) == {}


def test_a_storm_of_429_and_5xx_is_survived_without_losing_or_duplicating_an_order(sandbox):
    sandbox.control("faults", {"status": 429, "count": 3, "retry_after": "2"})
    client, fake = make_client(sandbox, max_attempts=12)
    with client:
        client.upsert(PAYLOADS[0])
        assert fake.sleeps == [2.0, 2.0, 2.0]
        # then half the calls fail: first after the orders were stored (a gateway giving up on done work),
        # then before; batches of 10 so the storm meets many calls
        sandbox.control("faults", {"rate": 0.5, "rate_statuses": [429, 500, 502, 503, 504], "retry_after": "0",
                                   "after": True, "seed": 11})
        results = client.upsert_all(PAYLOADS, batch_size=10)
        sandbox.control("faults", {"rate": 0.5, "after": False, "seed": 12})
        results_again = client.upsert_all(PAYLOADS, batch_size=10)
    injected = [c for c in sandbox.control("calls") if c.get("injected")]
    assert len(injected) >= 20 and {c["status"] for c in injected} == {429, 500, 502, 503, 504}
    assert any(c.get("done") == 200 for c in injected)  # stored, then answered with an error
    orders = sandbox.control("orders")
    assert sorted(o["code"] for o in orders) == sorted(p["code"] for p in PAYLOADS)  # each exactly once
    ids = {o["code"]: o["id"] for o in orders}
    assert results == results_again == {code: Confirmed(ids[code]) for code in ids}
    assert client.stats.retries == len(injected) and client.stats.responses_429 + client.stats.responses_5xx == \
        len(injected)


# -- statuses, partial updates, shipments ------------------------------------------------------------------------

def test_status_patch_and_shipment(sandbox):
    client, _ = make_client(sandbox)
    with client:
        order_id = client.upsert(PAYLOADS[0]).id
        client.set_status(order_id, "DISPATCHED")
        with pytest.raises(RetinoRejected, match="Unknown status value 'SHIPPED'"):
            client.set_status(order_id, "SHIPPED")
        with pytest.raises(RetinoNotFound):
            client.set_status("00000000-0000-4000-8000-000000000000", "PAID")
        client.patch(order_id, {"customer": {"phone": "+390000000000"}})
        with pytest.raises(RetinoRejected, match="Price mismatch"):
            client.patch(order_id, {"price": {"with_vat": "10.00", "without_vat": "8.00", "vat": "1.00"}})
        with pytest.raises(RetinoRejected, match="store_id cannot be changed"):
            client.patch(order_id, {"store_id": "shop-uk"})
        shipment = client.create_shipment(order_id, "084012345678901", "BRT")
        with pytest.raises(RetinoNotFound):
            client.create_shipment("00000000-0000-4000-8000-000000000000", "1")
    order = stored(sandbox)[PAYLOADS[0]["code"]]
    assert order["statuses"][-1]["name"] == "DISPATCHED"
    assert order["customer"] == {**PAYLOADS[0]["customer"], "phone": "+390000000000"}  # the rest unchanged
    assert order["items"] == PAYLOADS[0]["items"] and order["price"] == PAYLOADS[0]["price"]
    assert sandbox.control("shipments") == [{"order": order_id, "tracking_number": "084012345678901",
                                             "carrier_hint": "BRT", "delivery_type": "TO_ADDRESS",
                                             "id": shipment["id"]}]


# -- what the simulator enforces beyond the client ---------------------------------------------------------------

def raw_post(sandbox, path, body):
    return httpx.post(f"{sandbox.url}{path}", headers={"Authorization": TOKEN, "Content-Type": "application/json"},
                      content=jsonutil.dumps(body))


@pytest.mark.parametrize("change, message", [
    ({"price": {"with_vat": 199.99}}, "price.with_vat must be a decimal string"),
    ({"statuses": [{"name": "SHIPPED", "date": "2025-10-23T10:00:00Z"}]}, "unknown status value 'SHIPPED'"),
    ({"items": [{"name": "x", "item_type": "product"}]}, "item_type must be one of"),
    ({"order_date": "yesterday"}, "order_date is not an ISO 8601"),
    ({"code": ""}, "code must be a non-empty string"),
])
def test_the_simulator_refuses_what_the_document_rules_out(sandbox, change, message):
    answer = raw_post(sandbox, "/orders", {**PAYLOADS[0], **change})
    assert answer.status_code == 400 and message in answer.json()["error"]


def test_the_simulator_refuses_bulk_calls_over_100_and_takes_the_documents_example(sandbox):
    over = raw_post(sandbox, "/orders/bulk", PAYLOADS[:101])
    assert over.status_code == 400 and "at most 100" in over.json()["error"]
    example = [{"code": "ORD-001", "store_id": STORE, "price": {"with_vat": "100.00"},
                "customer": {"email": "a@example.com"}},
               {"code": "ORD-002", "store_id": STORE, "price": {"with_vat": "200.00"},
                "customer": {"email": "b@example.com"}}]
    answer = raw_post(sandbox, "/orders/bulk", example)
    assert answer.status_code == 200 and [o["code"] for o in answer.json()["created"]] == ["ORD-001", "ORD-002"]
    sandbox.control("reset", {})
    assert stored(sandbox) == {} and sandbox.control("calls") == []


def test_the_command_prints_the_settings_and_serves(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from feedsvc.commands.retino_sandbox import retino_sandbox_command as c; c()",
         "--port", str(port), "--token", TOKEN, "--store-id", "shop-uk"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(4)]
        url = f"http://127.0.0.1:{port}/api/v2"
        assert f"FEEDSVC_RETINO_URL={url}\n" in lines and "FEEDSVC_RETINO_STORE_ID=shop-uk\n" in lines
        deadline = time.monotonic() + 30
        with RetinoClient(TOKEN, "shop-uk", base_url=url, max_total=30) as client:
            while True:  # the URL line is printed before serve_forever starts accepting
                try:
                    result = client.upsert(dict(PAYLOADS[0], store_id="shop-uk"))
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
        assert result.status == 201
    finally:
        process.terminate()
        process.wait(timeout=30)
