"""The Retino Orders API v2 client (specs/retino-orders-api.md §2-§3): push orders, statuses, shipments.

Built from plain values (no Settings), so the push command, tests and the
simulator's checks all construct it the same way. Strict in what it sends:
`Authorization: <token>` with no scheme word, JSON bodies whose decimals are
strings (a float is refused before anything is sent). Liberal in what it
accepts: answers may be empty, not JSON, wrapped or shaped in ways the
document does not show; they are read by `answers.py` (the bulk answer by
`read_bulk_answer`, which finds per-order results wherever they are).

Retries: 429 (honouring Retry-After, seconds or an HTTP date, capped), 5xx
and transport errors back off exponentially with jitter, bounded in attempts
and in total time; any other 4xx is final. A call that may not be safely
repeated (a shipment) is retried only when the request surely was not
processed (429, 503, no connection). The token appears in no message.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from feedsvc import __version__
from feedsvc.retino.answers import (
    Confirmed,
    Outcome,
    Rejected,
    Unconfirmed,
    error_text,
    find_id,
    is_unknown_store_message,
    json_body,
    read_bulk_answer,
)
from feedsvc.retry_after import parse_retry_after

log = logging.getLogger("feedsvc.retino.api")

DEFAULT_URL = "https://app.retino.com/api/v2"
BULK_LIMIT = 100
DELIVERY_TYPES = ("TO_ADDRESS", "TO_BRANCH")
TOKEN_SETTING = "FEEDSVC_RETINO_TOKEN"
STORE_SETTING = "FEEDSVC_RETINO_STORE_ID"

_STATUS_VALUE = re.compile(r"[A-Z][A-Z_]*")


# -- errors --------------------------------------------------------------------

class RetinoError(Exception):
    """A Retino call failed for good. `status` is the HTTP status when there was one.

    `results` holds what a multi-call operation (upsert_all) learnt before it
    stopped, so the caller can still record the orders Retino confirmed.
    """

    def __init__(self, message: str, *, status: int | None = None, path: str = "",
                 results: Mapping[str, Outcome] | None = None):
        super().__init__(message)
        self.status = status
        self.path = path
        self.results: dict[str, Outcome] = dict(results or {})


class RetinoAuthError(RetinoError):
    """401/403: the token is wrong or lacks rights. Stops a push."""


class RetinoUnknownStore(RetinoError):
    """The store id is not set up in Retino ("Store ID 'xyz' does not exist"). Stops a push."""


class RetinoRejected(RetinoError):
    """A final 4xx for one order (or one whole request); the message is Retino's own."""

    def __init__(self, message: str, *, status: int | None = None, path: str = "", code: str | None = None):
        super().__init__(message, status=status, path=path)
        self.code = code


class RetinoNotFound(RetinoRejected):
    """404: the order id (or, for shipments, the endpoint itself) is unknown to Retino."""


class RetinoUnavailable(RetinoError):
    """Retries exhausted (429, 5xx or no connection) within the attempt and time budget."""


@dataclass(frozen=True)
class UpsertResult:
    code: str
    id: str | None
    status: int
    body: Any = None

    @property
    def created(self) -> bool:
        return self.status == 201


@dataclass
class RetinoStats:
    """What the client did, for logs and metrics: calls by operation, HTTP requests, retries, waits."""

    calls: Counter = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    responses_429: int = 0
    responses_5xx: int = 0
    transport_errors: int = 0
    waited: float = 0.0


# -- the wire format ------------------------------------------------------------------

def wire_value(value: Any, where: str = "body") -> Any:
    """`value` made ready for JSON: Decimals as strings; floats refused (money is never a float)."""
    if isinstance(value, Mapping):
        return {str(k): wire_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{where} is {value}, not a number Retino can take")
        return format(value, "f")
    if isinstance(value, float):
        raise ValueError(f"{where} is a float ({value!r}); send decimals as strings")
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise ValueError(f"{where} is a {type(value).__name__}, which has no JSON form")


def encode(value: Any) -> bytes:
    """The exact request body: compact UTF-8 JSON (\\u escapes only if a lone surrogate got this far)."""
    ready = wire_value(value)
    try:
        return json.dumps(ready, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(ready, separators=(",", ":")).encode("ascii")


# -- the client --------------------------------------------------------------------------

class RetinoClient:
    """One Retino account and store. Use as a context manager or call close()."""

    def __init__(self, token: str, store_id: str, *, base_url: str = DEFAULT_URL, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None, max_attempts: int = 6, max_total: float = 120.0,
                 backoff: float = 0.5, max_backoff: float = 30.0, max_retry_after: float = 60.0):
        token, store_id = str(token or "").strip(), str(store_id or "").strip()
        if not token:
            raise ValueError(f"{TOKEN_SETTING} is empty")
        if not store_id:
            raise ValueError(f"{STORE_SETTING} is empty")
        if any(c in token for c in "\r\n"):
            raise ValueError(f"{TOKEN_SETTING} contains a line break")
        self.store_id = store_id
        self.base_url = base_url.rstrip("/")
        self.sleep, self.clock, self.wall_clock = sleep, clock, wall_clock
        self.rng = rng or random.Random()
        self.max_attempts = max(1, max_attempts)
        self.max_total = max_total
        self.backoff, self.max_backoff, self.max_retry_after = backoff, max_backoff, max_retry_after
        self.stats = RetinoStats()
        self.http = httpx.Client(
            base_url=self.base_url, transport=transport,
            headers={"Authorization": token, "Accept": "application/json",
                     "User-Agent": f"feedsvc/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)))

    def __repr__(self) -> str:
        return f"RetinoClient(base_url={self.base_url!r}, store_id={self.store_id!r})"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RetinoClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the one request loop ----------------------------------------------------------
    def _delay(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: between half and all of base × 2^(attempt-1)."""
        ceiling = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def _send(self, method: str, path: str, *, operation: str, body: Any = None,
              params: Mapping[str, str] | None = None, idempotent: bool = True) -> httpx.Response:
        """One call with its retries; returns the first answer that is not 429/5xx, else raises."""
        self.stats.calls[operation] += 1
        content = encode(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            self.stats.requests += 1
            status: int | None = None
            try:
                response = self.http.request(method, path, content=content, params=params, headers=headers)
            except httpx.TransportError as exc:
                self.stats.transport_errors += 1
                unsent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                retryable, wait, last = idempotent or unsent, self._delay(attempt), type(exc).__name__
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                if status == 429:
                    self.stats.responses_429 += 1
                else:
                    self.stats.responses_5xx += 1
                # a 5xx may come after the work was done: only repeatable calls (or 503) go again
                retryable, last = status == 429 or status == 503 or idempotent, f"HTTP {status}"
                hinted = parse_retry_after(response.headers.get("retry-after"), now=self.wall_clock())
                wait = min(hinted, self.max_retry_after) if hinted is not None else self._delay(attempt)
            spent = self.clock() - started
            if not retryable or attempt >= self.max_attempts or spent + wait > self.max_total:
                raise RetinoUnavailable(
                    f"Retino did not accept {method} {path} after {attempt} attempt{'s' * (attempt > 1)} "
                    f"in {spent:.0f} s (last: {last})", path=path, status=status)
            log.warning("retino %s %s: %s; retry %d in %.1f s", method, path, last, attempt, wait)
            self.stats.retries += 1
            self.stats.waited += wait
            self.sleep(wait)

    def _fail(self, response: httpx.Response, path: str, code: str | None = None) -> RetinoError:
        """The error for a final 4xx answer."""
        status = response.status_code
        message = error_text(json_body(response), response.text)
        # a 401/403 is the token's fault unless it says, as the document words it, the store does not exist
        if is_unknown_store_message(message) and (status not in (401, 403) or "exist" in message.lower()):
            return RetinoUnknownStore(f"Retino does not know the store id {self.store_id!r} ({message}); "
                                      f"create it in Retino (Settings → API v2) or fix {STORE_SETTING}",
                                      status=status, path=path)
        if status in (401, 403):
            return RetinoAuthError(f"Retino refused the API token (HTTP {status}: {message}); "
                                   f"check {TOKEN_SETTING}", status=status, path=path)
        kind = RetinoNotFound if status == 404 else RetinoRejected
        return kind(message, status=status, path=path, code=code)

    def _check_store(self, outcomes: Mapping[str, Outcome], path: str) -> None:
        for outcome in outcomes.values():
            if isinstance(outcome, Rejected) and is_unknown_store_message(outcome.message):
                raise RetinoUnknownStore(f"Retino does not know the store id {self.store_id!r} "
                                         f"({outcome.message}); create it in Retino (Settings → API v2) "
                                         f"or fix {STORE_SETTING}", path=path)

    def _order_code(self, order: Mapping) -> str:
        code = order.get("code") if isinstance(order, Mapping) else None
        if not isinstance(code, str) or not code.strip():
            raise ValueError("an order to push needs a non-empty string `code`")
        if order.get("store_id") != self.store_id:
            raise ValueError(f"order {code}: store_id {order.get('store_id')!r} is not this client's "
                             f"{self.store_id!r}")
        return code

    # -- endpoints ---------------------------------------------------------------------
    def upsert(self, order: Mapping) -> UpsertResult:
        """POST /orders: create (201) or update (200) one order; RetinoRejected with Retino's message."""
        code = self._order_code(order)
        response = self._send("POST", "/orders", operation="upsert", body=order)
        if response.status_code >= 400:
            raise self._fail(response, "/orders", code)
        body = json_body(response)
        return UpsertResult(code=code, id=find_id(body), status=response.status_code, body=body)

    def bulk_upsert(self, orders: Sequence[Mapping]) -> dict[str, Outcome]:
        """POST /orders/bulk with at most 100 orders; {code: outcome} for each, in the order sent.

        A 4xx answer that still names orders is read like a 2xx one (the
        orders it does not name stay Unconfirmed); one that names none raises
        RetinoRejected for the whole request.
        """
        if len(orders) > BULK_LIMIT:
            raise ValueError(f"a bulk call takes at most {BULK_LIMIT} orders, got {len(orders)}")
        codes = [self._order_code(order) for order in orders]
        if len(set(codes)) != len(codes):
            duplicates = sorted({c for c in codes if codes.count(c) > 1})
            raise ValueError(f"the same code twice in one bulk call: {', '.join(duplicates)}")
        if not orders:
            return {}
        response = self._send("POST", "/orders/bulk", operation="bulk_upsert", body=list(orders))
        body = json_body(response)
        if response.status_code >= 400:
            error = self._fail(response, "/orders/bulk")
            if not isinstance(error, RetinoRejected):
                raise error
            outcomes = read_bulk_answer(body, codes)
            if all(isinstance(o, Unconfirmed) for o in outcomes.values()):
                raise error
        else:
            outcomes = read_bulk_answer(body, codes)
        self._check_store(outcomes, "/orders/bulk")
        return outcomes

    def upsert_all(self, orders: Sequence[Mapping], *, batch_size: int = BULK_LIMIT) -> dict[str, Outcome]:
        """Every order in ⌈n/batch_size⌉ calls: bulk calls, a single upsert for a batch of one.

        A batch Retino rejects as a whole (a 4xx naming no order) is sent
        again one order at a time, so one bad order cannot hold back 99
        good ones; when an answer rejects some orders and leaves others
        unconfirmed, those are sent once more. Auth, unknown-store and
        unavailability errors stop the run; the exception's `results` hold
        the outcomes known so far.
        """
        if not 1 <= batch_size <= BULK_LIMIT:
            raise ValueError(f"batch_size must be between 1 and {BULK_LIMIT}")
        results: dict[str, Outcome] = {}
        try:
            for start in range(0, len(orders), batch_size):
                results.update(self._batch(orders[start:start + batch_size], resend=True))
        except RetinoError as stop:
            stop.results = {**results, **stop.results}
            raise
        return results

    def _batch(self, batch: Sequence[Mapping], *, resend: bool) -> dict[str, Outcome]:
        if len(batch) == 1:
            return self._one(batch[0])
        try:
            outcomes = self.bulk_upsert(batch)
        except RetinoRejected as whole:
            log.warning("retino rejected a bulk call of %d orders (%s); sending them one by one", len(batch), whole)
            return {code: outcome for order in batch for code, outcome in self._one(order).items()}
        left = [order for order in batch if isinstance(outcomes[order["code"]], Unconfirmed)]
        if resend and left and any(isinstance(o, Rejected) for o in outcomes.values()):
            # The answer speaks per order and refused some; those it left unconfirmed were
            # probably refused with them (a validation error fails the whole request): once more.
            outcomes.update(self._batch(left, resend=False))
        return outcomes

    def _one(self, order: Mapping) -> dict[str, Outcome]:
        code = self._order_code(order)
        try:
            result = self.upsert(order)
        except RetinoRejected as rejected:
            return {code: Rejected(str(rejected))}
        return {code: Confirmed(result.id)}

    def set_status(self, order_uuid: str, value: str) -> Any:
        """PATCH /orders/{id}/status?status_value=VALUE."""
        if not isinstance(value, str) or not _STATUS_VALUE.fullmatch(value):
            raise ValueError(f"a Retino status value is upper case with underscores (PAID, DISPATCHED), got {value!r}")
        path = f"/orders/{quote(str(order_uuid), safe='')}/status"
        response = self._send("PATCH", path, operation="set_status", params={"status_value": value})
        if response.status_code >= 400:
            raise self._fail(response, path)
        return json_body(response)

    def patch(self, order_uuid: str, fields: Mapping) -> Any:
        """PATCH /orders/{id}: only the fields sent change."""
        if not fields:
            raise ValueError("a partial update needs at least one field")
        path = f"/orders/{quote(str(order_uuid), safe='')}"
        response = self._send("PATCH", path, operation="patch", body=fields)
        if response.status_code >= 400:
            raise self._fail(response, path)
        return json_body(response)

    def create_shipment(self, order_uuid: str, tracking_number: str, carrier_hint: str | None = None,
                        delivery_type: str = "TO_ADDRESS") -> Any:
        """POST /tracking-shipping: one parcel of an order. Not repeated after a possibly-processed failure."""
        if delivery_type not in DELIVERY_TYPES:
            raise ValueError(f"delivery_type must be one of {', '.join(DELIVERY_TYPES)}, got {delivery_type!r}")
        tracking_number = str(tracking_number or "").strip()
        if not tracking_number:
            raise ValueError("a shipment needs a tracking number")
        body = {"order": str(order_uuid), "tracking_number": tracking_number, "delivery_type": delivery_type}
        if carrier_hint and str(carrier_hint).strip():
            body["carrier_hint"] = str(carrier_hint).strip()
        response = self._send("POST", "/tracking-shipping", operation="create_shipment", body=body,
                              idempotent=False)
        if response.status_code >= 400:
            raise self._fail(response, "/tracking-shipping")
        return json_body(response)
