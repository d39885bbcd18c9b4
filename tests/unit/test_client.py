"""The Storeden client against a mock transport and a fake clock: budget, retries, errors, paging."""

from decimal import Decimal

import httpx
import pytest

from feedsvc.storeden.client import (
    StoredenAuthError,
    StoredenClient,
    StoredenError,
    StoredenQuotaError,
    StoredenThrottledError,
)
from feedsvc.storeden.throttle import Throttle


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


def make_client(handler, clock=None, **kw):
    clock = clock or FakeClock()
    client = StoredenClient("https://api.test/v1.1", "the-key", "the-exchange", transport=httpx.MockTransport(handler),
                            clock=clock, sleep=clock.sleep, **kw)
    return client, clock


def test_throttle_never_exceeds_budget_and_wastes_nothing():
    clock = FakeClock()
    throttle = Throttle(5, 60, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(50):
        throttle.acquire()
        sent.append(clock.now)
    for i in range(len(sent) - 5):
        assert sent[i + 5] - sent[i] >= 60  # never 6 in any 60-second window
    # full use of the budget: 50 requests take 9 windows, plus the small safety margin
    assert sent[-1] - sent[0] <= 9 * (60 + throttle.margin) + 1e-6


def test_server_limit_header_corrects_the_window():
    clock = FakeClock()
    throttle = Throttle(5, 60, clock=clock, sleep=clock.sleep)
    throttle.acquire()
    throttle.observe_limit("0/5")  # the server says the budget is used up (another client?)
    start = clock.now
    throttle.acquire()
    assert clock.now - start >= 60
    throttle.observe_limit("garbage")
    throttle.observe_limit("2/3")  # smaller quota adopted
    assert throttle.requests == 3


def test_headers_and_decimal_parsing():
    seen = {}

    def handler(request):
        seen.update(request.headers)
        return httpx.Response(200, text='{"orderID": "1_a", "total": 117.5, "status": 4}')

    client, _ = make_client(handler)
    order = client.get_order("1_a")
    assert seen["key"] == "the-key" and seen["exchange"] == "the-exchange"
    assert order["total"] == Decimal("117.5") and isinstance(order["status"], int)


def test_429_waits_for_retry_after_then_succeeds():
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"ok": 1})])
    client, clock = make_client(lambda request: next(answers))
    start = clock.now
    client.request("/orders/statuses.json")
    assert client.stats.responses_429 == 1 and client.stats.requests_sent == 2
    assert clock.now - start >= 7


def test_429_without_retry_after_waits_for_the_window():
    answers = iter([httpx.Response(429), httpx.Response(200, json={})])
    client, clock = make_client(lambda request: next(answers))
    start = clock.now
    client.request("/orders/statuses.json")
    assert clock.now - start >= 60


def test_endless_429_gives_up():
    client, _ = make_client(lambda request: httpx.Response(429), max_429=3)
    with pytest.raises(StoredenThrottledError):
        client.request("/orders/statuses.json")
    assert client.stats.requests_sent == 4


def test_5xx_retried_with_backoff():
    answers = iter([httpx.Response(500), httpx.Response(503), httpx.Response(200, json={"a": 1})])
    client, _ = make_client(lambda request: next(answers))
    assert client.request("/x")[0] == {"a": 1}
    assert client.stats.retries == 2


def test_connection_errors_retried_then_reported():
    def handler(request):
        raise httpx.ConnectError("refused")

    client, _ = make_client(handler, max_attempts=3)
    with pytest.raises(StoredenError) as caught:
        client.request("/orders/list.json")
    assert client.stats.requests_sent == 3 and "ConnectError" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_immediate_and_never_shows_secrets(status):
    client, _ = make_client(lambda request: httpx.Response(status, json={"error": "bad key the-key"}))
    with pytest.raises(StoredenAuthError) as caught:
        client.request("/orders/list.json")
    assert client.stats.requests_sent == 1
    assert "rejected the key/exchange pair" in str(caught.value)
    assert "the-exchange" not in str(caught.value)


def test_quota_exceeded_stops_at_once():
    client, _ = make_client(lambda request: httpx.Response(509))
    with pytest.raises(StoredenQuotaError):
        client.request("/orders/list.json")
    assert client.stats.requests_sent == 1


@pytest.mark.parametrize("body, message", [
    ({"error": {"message": "Order not valid"}}, "Order not valid"),
    ({"message": "Bad thing"}, "Bad thing"),
    ({"error": 1, "message": ""}, "1"),
])
def test_error_bodies_are_explained(body, message):
    client, _ = make_client(lambda request: httpx.Response(400, json=body))
    with pytest.raises(StoredenError) as caught:
        client.request("/x")
    assert message in str(caught.value)


def test_error_inside_a_200_is_a_failure():
    client, _ = make_client(lambda request: httpx.Response(200, json={"ok": 0, "err": "boom"}))
    with pytest.raises(StoredenError, match="boom"):
        client.request("/x")


def test_pagination_runs_to_the_first_empty_page_and_deduplicates():
    pages = {0: [{"orderID": "a"}, {"orderID": "b"}], 2: [{"orderID": "b"}], 3: [{"orderID": "c"}], 4: []}
    skips = []

    def handler(request):
        skip = int(request.url.params["skip"])
        skips.append(skip)
        assert request.url.params["from"] == "10" and request.url.params["to"] == "20"
        assert request.url.params["nodes"] == "short_id"
        return httpx.Response(200, json=pages[skip])

    client, _ = make_client(handler)
    ids = [o["orderID"] for o in client.list_orders(from_ts=10, to_ts=20, limit=2)]
    assert ids == ["a", "b", "c"]
    assert skips == [0, 2, 3, 4]  # a short page (skip 2) is not taken as the end


@pytest.mark.parametrize("response", [httpx.Response(404, json={"error": "none"}), httpx.Response(200, json={}),
                                      httpx.Response(200, json={"tracking": " "}), httpx.Response(200, json=[])])
def test_no_tracking_is_none(response):
    client, _ = make_client(lambda request: response)
    assert client.get_tracking("1_a") is None


def test_tracking_as_one_shipment_or_a_list_of_them():
    one = {"courier": "BRT", "tracking": "JJD1 / JJD2"}
    several = [{"courier": "BRT", "tracking": ""}, {"courier": "GLS", "tracking": "Z9"}]
    for body in (one, several):
        client, _ = make_client(lambda request, body=body: httpx.Response(200, json=body))
        assert client.get_tracking("1_a") == body
    client, _ = make_client(lambda request: httpx.Response(200, json=[{"tracking": " "}, None]))
    assert client.get_tracking("1_a") is None


def test_couriers_accepts_array_or_object():
    client, _ = make_client(lambda r: httpx.Response(200, json=[{"code": "TNT", "name": "TNT"}]))
    assert client.couriers() == {"TNT": {"code": "TNT", "name": "TNT"}}
