"""The Retino Orders API client on a mock transport and a fake clock: what it sends, retries and backoff,
Retry-After, typed errors, bulk calls, and the tolerant bulk-answer reader over many shapes."""

import json
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedsvc.retino.answers import (
    UNCONFIRMED,
    Confirmed,
    Rejected,
    error_text,
    is_unknown_store_message,
    read_bulk_answer,
)
from feedsvc.retino.api import (
    BULK_LIMIT,
    RetinoAuthError,
    RetinoClient,
    RetinoNotFound,
    RetinoRejected,
    RetinoUnavailable,
    RetinoUnknownStore,
    encode,
)
from feedsvc.retry_after import parse_retry_after

TOKEN = "tok_3f9a8c0e5b7d4e21a6c9"
STORE = "main-shop"
WALL = 1_800_000_000.0


class FakeClock:
    """Monotonic and wall time that move only when the client sleeps."""

    def __init__(self):
        self.now = 500.0
        self.wall = WALL
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        self.wall += seconds


def make_client(handler, **options):
    clock = FakeClock()
    client = RetinoClient(TOKEN, STORE, base_url="https://retino.test/api/v2", transport=httpx.MockTransport(handler),
                          sleep=clock.sleep, clock=clock, wall_clock=lambda: clock.wall, rng=random.Random(1),
                          **options)
    return client, clock


def order(code="ORD-1", **extra):
    return {"code": code, "store_id": STORE, "price": {"with_vat": "199.99"}, **extra}


def answers(*responses):
    """A handler answering the given responses in turn (the last one repeated), recording requests."""
    seen = []
    queue = list(responses)

    def handler(request):
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item
    return handler, seen


# -- what goes on the wire ----------------------------------------------------------------

def test_upsert_sends_the_bare_token_and_a_json_body_with_string_decimals():
    handler, seen = answers(httpx.Response(201, json={"id": "7c1e7a0e-0000-4000-8000-000000000001", "code": "ORD-1"}))
    client, _ = make_client(handler)
    result = client.upsert(order(price={"with_vat": Decimal("199.99"), "vat": "34.71"}))
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/api/v2/orders")
    assert request.headers["authorization"] == TOKEN  # no "Bearer", no "Token"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content)["price"] == {"with_vat": "199.99", "vat": "34.71"}
    assert (result.id, result.status, result.created) == ("7c1e7a0e-0000-4000-8000-000000000001", 201, True)


def test_a_float_anywhere_is_refused_before_anything_is_sent():
    handler, seen = answers(httpx.Response(201, json={}))
    client, _ = make_client(handler)
    with pytest.raises(ValueError, match=r"items\[0\]\.amount is a float"):
        client.upsert(order(items=[{"name": "x", "amount": 1.5}]))
    assert seen == []
    assert encode({"a": Decimal("1E+2"), "b": "€"}) == '{"a":"100","b":"€"}'.encode()


def test_update_answers_200_and_the_id_is_found_inside_a_wrapper():
    handler, _ = answers(httpx.Response(200, json={"data": {"order": {"uuid": "u-42"}}}),
                         httpx.Response(200, text="OK"))
    client, _ = make_client(handler)
    first = client.upsert(order())
    assert (first.id, first.created) == ("u-42", False)
    assert client.upsert(order()).id is None  # not JSON: accepted, no id


def test_orders_for_another_store_or_without_a_code_are_refused_locally():
    handler, seen = answers(httpx.Response(201, json={}))
    client, _ = make_client(handler)
    with pytest.raises(ValueError, match="store_id"):
        client.upsert({"code": "A", "store_id": "other"})
    with pytest.raises(ValueError, match="code"):
        client.upsert({"code": "", "store_id": STORE})
    assert seen == []


# -- retries ------------------------------------------------------------------------------------

def test_429_waits_exactly_the_retry_after_seconds():
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(201, json={"id": "a"}))
    client, clock = make_client(handler)
    client.upsert(order())
    assert clock.sleeps == [7.0] and len(seen) == 2
    assert (client.stats.responses_429, client.stats.retries, client.stats.requests) == (1, 1, 2)


def test_429_with_an_http_date_waits_until_that_date():
    when = datetime.fromtimestamp(WALL + 30, tz=UTC)
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": format_datetime(when, usegmt=True)}),
                         httpx.Response(201, json={}))
    client, clock = make_client(handler)
    client.upsert(order())
    assert clock.sleeps == [30.0]


def test_a_huge_retry_after_is_capped():
    handler, _ = answers(httpx.Response(429, headers={"Retry-After": "86400"}), httpx.Response(201, json={}))
    client, clock = make_client(handler, max_retry_after=45)
    client.upsert(order())
    assert clock.sleeps == [45.0]


def test_5xx_backs_off_exponentially_with_jitter_then_succeeds():
    handler, seen = answers(*[httpx.Response(502)] * 4, httpx.Response(200, json={"id": "a"}))
    client, clock = make_client(handler, backoff=1.0, max_backoff=100)
    client.upsert(order())
    assert len(seen) == 5 and len(clock.sleeps) == 4
    for attempt, wait in enumerate(clock.sleeps, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling
    assert client.stats.responses_5xx == 4 and client.stats.waited == pytest.approx(sum(clock.sleeps))


def test_jitter_differs_between_clients():
    waits = []
    for seed in (1, 2):
        handler, _ = answers(httpx.Response(500), httpx.Response(200, json={}))
        client = RetinoClient(TOKEN, STORE, transport=httpx.MockTransport(handler), sleep=waits.append,
                              rng=random.Random(seed))
        client.upsert(order())
    assert waits[0] != waits[1]


def test_retries_stop_after_the_attempt_budget():
    handler, seen = answers(httpx.Response(503))
    client, _ = make_client(handler, max_attempts=4)
    with pytest.raises(RetinoUnavailable, match=r"after 4 attempts.*HTTP 503") as caught:
        client.upsert(order())
    assert len(seen) == 4 and caught.value.status == 503


def test_retries_stop_before_the_time_budget_is_exceeded():
    handler, seen = answers(httpx.Response(429, headers={"Retry-After": "40"}))
    client, clock = make_client(handler, max_attempts=100, max_total=100)
    with pytest.raises(RetinoUnavailable):
        client.upsert(order())
    assert clock.now - 500 <= 100 and len(seen) == 3  # waits 40 + 40; a third would pass 100 s


def test_transport_errors_are_retried():
    handler, seen = answers(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(201, json={}))
    client, _ = make_client(handler)
    client.upsert(order())
    assert len(seen) == 3 and client.stats.transport_errors == 2


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_are_never_retried(status):
    handler, seen = answers(httpx.Response(status, json={"error": "no"}))
    client, clock = make_client(handler)
    with pytest.raises(RetinoRejected):
        client.upsert(order())
    assert len(seen) == 1 and clock.sleeps == []


def test_a_shipment_is_not_repeated_when_it_may_have_been_processed():
    for failure in (httpx.Response(500), httpx.ReadTimeout("slow")):
        handler, seen = answers(failure, httpx.Response(201, json={"id": "s"}))
        client, _ = make_client(handler)
        with pytest.raises(RetinoUnavailable):
            client.create_shipment("u-1", "0840123")
        assert len(seen) == 1
    for unsent in (httpx.Response(503), httpx.Response(429), httpx.ConnectError("refused")):
        handler, seen = answers(unsent, httpx.Response(201, json={"id": "s"}))
        client, _ = make_client(handler)
        assert client.create_shipment("u-1", "0840123") == {"id": "s"}
        assert len(seen) == 2


# -- typed errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_a_wrong_token_names_the_setting_and_never_shows_the_token(status):
    handler, _ = answers(httpx.Response(status, json={"detail": "Invalid token."}))
    client, _ = make_client(handler)
    with pytest.raises(RetinoAuthError) as caught:
        client.upsert(order())
    assert "FEEDSVC_RETINO_TOKEN" in str(caught.value) and "Invalid token." in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(client)


@pytest.mark.parametrize("body", [
    {"error": "Store ID 'main-shop' does not exist"},
    {"store_id": ["Store ID 'main-shop' does not exist"]},
    {"errors": [{"field": "store_id", "message": "Store ID 'main-shop' does not exist"}]},
    "Store ID 'main-shop' does not exist",
])
def test_an_unknown_store_names_the_setting(body):
    handler, _ = answers(httpx.Response(400, json=body))
    client, _ = make_client(handler)
    with pytest.raises(RetinoUnknownStore) as caught:
        client.upsert(order())
    assert "FEEDSVC_RETINO_STORE_ID" in str(caught.value) and "does not exist" in str(caught.value)


def test_a_rejected_order_carries_retinos_message_and_its_code():
    handler, _ = answers(httpx.Response(400, json={"price": ["Price mismatch: 1000 + 210 ≠ 1200"]}))
    client, _ = make_client(handler)
    with pytest.raises(RetinoRejected) as caught:
        client.upsert(order("ORD-9"))
    assert str(caught.value) == "price: Price mismatch: 1000 + 210 ≠ 1200"
    assert (caught.value.code, caught.value.status) == ("ORD-9", 400)


def test_404_is_not_found():
    handler, _ = answers(httpx.Response(404, text="<html>Not Found</html>"))
    client, _ = make_client(handler)
    with pytest.raises(RetinoNotFound):
        client.set_status("u-1", "DISPATCHED")


@pytest.mark.parametrize("body, text", [
    ({"detail": "Invalid token."}, "Invalid token."),
    ({"error": {"message": "boom", "code": 12}}, "boom; code: 12"),
    ({"errors": ["a", "b", "a"]}, "a; b"),
    ({"items": [{"name": ["required"]}]}, "items: name: required"),
    ([], "the raw body"),  # nothing readable: the body's text, whitespace folded
    (None, "the raw body"),
])
def test_error_text_reads_many_error_shapes(body, text):
    assert error_text(body, "the raw \n body") == text


def test_unknown_store_message_recognition():
    assert is_unknown_store_message("Store ID 'xyz' does not exist")
    assert is_unknown_store_message("store_id: unknown store id")
    assert not is_unknown_store_message("Price mismatch: 1000 + 210 ≠ 1200")
    assert not is_unknown_store_message("Order ORD-1 does not exist")


# -- Retry-After ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, seconds", [
    ("0", 0.0), ("12", 12.0), (" 3 ", 3.0), ("1.5", 1.5),
    (format_datetime(datetime.fromtimestamp(WALL + 90, tz=UTC), usegmt=True), 90.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past
    ("", None), (None, None), ("soon", None), ("-5", None), ("nan", None), ("inf", None),
])
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, now=WALL) == seconds


# -- the other endpoints -------------------------------------------------------------------------------

def test_set_status_patch_and_shipment_requests():
    handler, seen = answers(httpx.Response(200, json={}))
    client, _ = make_client(handler)
    client.set_status("a/b", "DISPATCHED")
    client.patch("u-1", {"customer": {"email": "new@example.com"}})
    client.create_shipment("u-1", " 084012345678901 ", "BRT", "TO_BRANCH")
    status, patch, shipment = seen
    assert (status.method, status.url.raw_path) == ("PATCH", b"/api/v2/orders/a%2Fb/status?status_value=DISPATCHED")
    assert status.content == b""
    assert (patch.method, patch.url.path, json.loads(patch.content)) == \
        ("PATCH", "/api/v2/orders/u-1", {"customer": {"email": "new@example.com"}})
    assert (shipment.url.path, json.loads(shipment.content)) == ("/api/v2/tracking-shipping", {
        "order": "u-1", "tracking_number": "084012345678901", "carrier_hint": "BRT", "delivery_type": "TO_BRANCH"})
    with pytest.raises(ValueError):
        client.set_status("u-1", "dispatched; DROP")
    with pytest.raises(ValueError):
        client.create_shipment("u-1", "1", delivery_type="DRONE")
    assert len(seen) == 3
    assert dict(client.stats.calls) == {"set_status": 1, "patch": 1, "create_shipment": 1}


# -- bulk ----------------------------------------------------------------------------------------------

def test_bulk_refuses_more_than_100_orders_and_duplicates_without_sending():
    handler, seen = answers(httpx.Response(200, json=[]))
    client, _ = make_client(handler)
    with pytest.raises(ValueError, match="at most 100"):
        client.bulk_upsert([order(f"O{n}") for n in range(BULK_LIMIT + 1)])
    with pytest.raises(ValueError, match="twice"):
        client.bulk_upsert([order("A"), order("A")])
    assert client.bulk_upsert([]) == {}
    assert seen == []


def test_bulk_reads_per_order_results():
    body = {"created": [{"code": "A", "id": "id-a"}], "failed": [{"code": "B", "error": "Price mismatch: 1 + 1 ≠ 3"}]}
    handler, seen = answers(httpx.Response(200, json=body))
    client, _ = make_client(handler)
    outcome = client.bulk_upsert([order("A"), order("B"), order("C")])
    assert outcome == {"A": Confirmed("id-a"), "B": Rejected("Price mismatch: 1 + 1 ≠ 3"), "C": UNCONFIRMED}
    assert json.loads(seen[0].content)[1]["code"] == "B" and seen[0].url.path == "/api/v2/orders/bulk"


def test_a_4xx_bulk_answer_naming_orders_is_read_one_naming_none_raises():
    named = {"errors": [{"index": 1, "message": "items[0].name: required"}]}
    handler, _ = answers(httpx.Response(400, json=named), httpx.Response(400, json={"detail": "Malformed"}))
    client, _ = make_client(handler)
    assert client.bulk_upsert([order("A"), order("B")]) == {"A": UNCONFIRMED,
                                                             "B": Rejected("items[0].name: required")}
    with pytest.raises(RetinoRejected, match="Malformed"):
        client.bulk_upsert([order("A"), order("B")])


def test_an_unknown_store_in_per_order_results_stops_the_push():
    body = {"failed": [{"code": c, "errors": ["Store ID 'main-shop' does not exist"]} for c in ("A", "B")]}
    handler, _ = answers(httpx.Response(200, json=body))
    client, _ = make_client(handler)
    with pytest.raises(RetinoUnknownStore, match="FEEDSVC_RETINO_STORE_ID"):
        client.bulk_upsert([order("A"), order("B")])


def test_upsert_all_uses_ceil_n_over_100_calls():
    def handler(request):
        sent = json.loads(request.content)
        if request.url.path.endswith("/bulk"):
            return httpx.Response(200, json=[{"code": o["code"], "id": f"id-{o['code']}"} for o in sent])
        return httpx.Response(201, json={"id": f"id-{sent['code']}"})
    client, _ = make_client(handler)
    results = client.upsert_all([order(f"O{n}") for n in range(201)])
    assert results == {f"O{n}": Confirmed(f"id-O{n}") for n in range(201)}
    assert dict(client.stats.calls) == {"bulk_upsert": 2, "upsert": 1}


def test_upsert_all_sends_a_batch_rejected_as_a_whole_one_by_one():
    def handler(request):
        if request.url.path.endswith("/bulk"):
            return httpx.Response(422, json={"detail": "one order is invalid"})
        sent = json.loads(request.content)
        if sent["code"] == "B":
            return httpx.Response(422, json={"price": ["Price mismatch: 1000 + 210 ≠ 1200"]})
        return httpx.Response(201, json={"id": f"id-{sent['code']}"})
    client, _ = make_client(handler)
    results = client.upsert_all([order("A"), order("B"), order("C")])
    assert results == {"A": Confirmed("id-A"), "B": Rejected("price: Price mismatch: 1000 + 210 ≠ 1200"),
                       "C": Confirmed("id-C")}


def test_upsert_all_resends_the_orders_a_partial_rejection_left_unconfirmed():
    bulks = []

    def handler(request):
        sent = [o["code"] for o in json.loads(request.content)]
        bulks.append(sent)
        if "B" in sent:  # validation refuses the whole request and names the culprit only
            return httpx.Response(422, json={"detail": [{"loc": ["body", sent.index("B"), "price"], "msg": "bad"}]})
        return httpx.Response(200, json={"created": [{"code": c, "id": f"id-{c}"} for c in sent]})
    client, _ = make_client(handler)
    results = client.upsert_all([order("A"), order("B"), order("C")])
    assert results == {"A": Confirmed("id-A"), "B": Rejected("price: bad"), "C": Confirmed("id-C")}
    assert bulks == [["A", "B", "C"], ["A", "C"]]


def test_upsert_all_stops_when_retino_is_unavailable_and_keeps_what_it_learnt():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(200, json=[{"code": o["code"], "id": "x"} for o in json.loads(request.content)])
        return httpx.Response(500)
    client, _ = make_client(handler, max_attempts=2)
    with pytest.raises(RetinoUnavailable) as caught:
        client.upsert_all([order(f"O{n}") for n in range(150)])
    assert len(caught.value.results) == 100 and all(r == Confirmed("x") for r in caught.value.results.values())


# -- read_bulk_answer ---------------------------------------------------------------------------------

SENT = ["A", "B", "C"]


@pytest.mark.parametrize("answer, expected", [
    ([{"code": "A", "id": "1"}, {"code": "B", "error": "bad"}], {"A": Confirmed("1"), "B": Rejected("bad")}),
    ({"results": [{"code": "A", "status": "created", "id": "1"}, {"code": "B", "status": "failed",
                                                                  "errors": ["x", "y"]}]},
     {"A": Confirmed("1"), "B": Rejected("x; y")}),
    ({"created": [{"code": "A", "id": "1"}], "updated": [{"code": "C", "id": "3"}],
      "failed": [{"code": "B", "errors": {"price": "Price mismatch"}}]},
     {"A": Confirmed("1"), "C": Confirmed("3"), "B": Rejected("price: Price mismatch")}),
    ({"data": {"summary": {"ok": [{"order": {"code": "A", "id": "1"}}]}}}, {"A": Confirmed("1")}),
    ({"created": ["A", "C"], "failed": ["B"]},
     {"A": Confirmed(None), "C": Confirmed(None), "B": Rejected("rejected by Retino without a message")}),
    ({"errors": {"B": ["Price mismatch: 1000 + 210 ≠ 1200"]}, "created": {"A": "1"}},
     {"A": Confirmed("1"), "B": Rejected("Price mismatch: 1000 + 210 ≠ 1200")}),
    ({"results": [{"index": 2, "success": False, "message": "no email"}, {"index": 0, "success": True}]},
     {"C": Rejected("no email"), "A": Confirmed(None)}),
    ([{"code": "A", "status": 201, "id": "1"}, {"code": "B", "status": 400, "detail": "nope"}],
     {"A": Confirmed("1"), "B": Rejected("nope")}),
    ([{"code": "A", "id": "1", "errors": []}], {"A": Confirmed("1")}),  # an empty error list is no error
    ([{"code": "A", "id": "1"}, {"code": "A", "error": "late failure"}], {"A": Rejected("late failure")}),
    ([{"code": "B", "error": "one"}, {"code": "B", "errors": ["two", "one"]}], {"B": Rejected("one; two")}),
    ({"detail": [{"loc": ["body", 1, "price", "with_vat"], "msg": "must be a string", "type": "string_type"},
                 {"loc": ["body", 1, "code"], "msg": "required"}]},  # a pydantic-style 422
     {"B": Rejected("price.with_vat: must be a string; code: required")}),
    ({"created": 2, "updated": 1, "failed": 0, "errors": []}, {c: Confirmed(None) for c in SENT}),
    ({"created": 2, "failed": 1}, {}),  # counts that do not say which: nothing confirmed
    ([{"code": "Z", "id": "9"}, {"id": "2"}, "A"], {}),  # unknown codes, no codes, bare codes in no context
    (None, {}), ("OK", {}), ([], {}), ({"message": "Accepted"}, {}),
])
def test_read_bulk_answer_shapes(answer, expected):
    assert read_bulk_answer(answer, SENT) == {code: expected.get(code, UNCONFIRMED) for code in SENT}


def test_read_bulk_answer_matches_numeric_codes_sent_back_as_numbers():
    assert read_bulk_answer([{"code": 10040, "id": "u"}], ["10040"]) == {"10040": Confirmed("u")}


codes_strategy = st.lists(st.from_regex(r"[A-Z0-9][A-Z0-9_-]{0,11}", fullmatch=True), min_size=1, max_size=12,
                          unique=True)
message_strategy = st.one_of(st.just("Price mismatch: 1000 + 210 ≠ 1200"),
                             st.text(st.characters(min_codepoint=32, max_codepoint=0x24F), min_size=1, max_size=30)
                             .map(lambda s: " ".join(s.split())).filter(bool))


@st.composite
def truth_and_answer(draw):
    """A truth {code: ('ok', id) | ('fail', message) | None} and one answer shape that tells it."""
    codes = draw(codes_strategy)
    truth = {}
    for code in codes:
        kind = draw(st.sampled_from(["ok", "fail", None]))
        truth[code] = ("ok", str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))) if kind == "ok" else \
            ("fail", draw(message_strategy)) if kind == "fail" else None
    errors_as = draw(st.sampled_from(["string", "list", "dict"]))

    def error_value(message):
        return {"string": message, "list": [message], "dict": {"non_field_errors": [message]}}[errors_as]

    shape = draw(st.sampled_from(["flat", "status", "split", "nested", "wrapped", "keyed", "indexed"]))
    said = [(code, verdict) for code, verdict in truth.items() if verdict is not None]
    said = draw(st.permutations(said))
    ok = [(c, v[1]) for c, v in said if v[0] == "ok"]
    fail = [(c, v[1]) for c, v in said if v[0] == "fail"]
    if shape == "flat":
        answer = [{"code": c, "id": i} for c, i in ok] + [{"code": c, "errors": error_value(m)} for c, m in fail]
    elif shape == "status":
        answer = {"results": [{"code": c, "status": "updated", "id": i} for c, i in ok]
                  + [{"code": c, "status": "error", "error": error_value(m)} for c, m in fail]}
    elif shape == "split":
        cut = draw(st.integers(0, len(ok)))
        answer = {"created": [{"code": c, "id": i} for c, i in ok[:cut]],
                  "updated": [{"code": c, "id": i} for c, i in ok[cut:]],
                  "failed": [{"code": c, "message": m} for c, m in fail], "count": len(said)}
    elif shape == "nested":
        answer = {"data": {"bulk": {"succeeded": [{"code": c, "id": i} for c, i in ok]},
                           "problems": {"failures": [{"code": c, "errors": error_value(m)} for c, m in fail]}}}
    elif shape == "wrapped":
        answer = {"results": [{"order": {"code": c, "id": i}, "status": 201} for c, i in ok]
                  + [{"order": {"code": c}, "status": 400, "errors": error_value(m)} for c, m in fail]}
    elif shape == "keyed":
        answer = {"created": dict(ok), "errors": {c: error_value(m) for c, m in fail}}
    else:
        answer = {"created": [{"code": c, "id": i} for c, i in ok],
                  "errors": [{"index": codes.index(c), "error": error_value(m)} for c, m in fail]}
    return codes, truth, answer


@settings(max_examples=300, deadline=None)
@given(truth_and_answer())
def test_read_bulk_answer_recovers_what_any_shape_says(case):
    codes, truth, answer = case
    read = read_bulk_answer(json.loads(json.dumps(answer)), codes)
    assert list(read) == codes
    for code, verdict in truth.items():
        if verdict is None:
            assert read[code] == UNCONFIRMED
        elif verdict[0] == "ok":
            assert read[code] == Confirmed(verdict[1])
        else:
            assert isinstance(read[code], Rejected) and verdict[1] in read[code].message


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.sampled_from(SENT)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(
                                ["code", "id", "error", "errors", "failed", "created", "status", "index"] + SENT)),
                                inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_read_bulk_answer_never_fails_and_answers_for_exactly_the_codes_sent(answer):
    read = read_bulk_answer(answer, SENT)
    assert list(read) == SENT
    assert all(isinstance(v, (Confirmed, Rejected)) or v == UNCONFIRMED for v in read.values())
