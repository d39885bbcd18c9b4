"""The Storeden Orders API client: auth headers, the shared throttle, retries, pagination.

Every call goes through one Throttle (5 requests a minute by default), so the
client never sends a request it knows will be refused. A 429 waits
(Retry-After, else until the window frees) and resends; 5xx answers, time-outs
and connection errors back off exponentially with jitter; 401/403 and 509 stop
at once. Numbers with a fraction arrive as Decimal. The key and the exchange
secret appear in no message and no log line.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from feedsvc import __version__, jsonutil
from feedsvc.retry_after import parse_retry_after
from feedsvc.storeden.throttle import Throttle
from feedsvc.storeden.vocabulary import STOREDEN_RATE

log = logging.getLogger("feedsvc.storeden")


class StoredenError(Exception):
    """A Storeden call failed for good; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, path: str = ""):
        super().__init__(message)
        self.status = status
        self.path = path


class StoredenAuthError(StoredenError):
    """401/403: the key/exchange pair is wrong or lacks rights."""


class StoredenQuotaError(StoredenError):
    """509: the daily quota is spent; retrying today is pointless."""


class StoredenThrottledError(StoredenError):
    """Still 429 after every retry."""


class StoredenNotFound(StoredenError):
    """404 for a specific resource."""


@dataclass
class ClientStats:
    requests_sent: int = 0
    responses_429: int = 0
    retries: int = 0
    errors: int = 0
    throttle_wait: float = 0.0
    pages: int = 0


def _error_message(body: Any, text: str) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if body.get("message"):
            return str(body["message"])
        if error:
            return str(error)
        if body.get("err"):
            return str(body["err"])
    return text[:500]


class StoredenClient:
    def __init__(self, base_url: str, key: str, exchange: str, *, rate_requests: int = STOREDEN_RATE.requests,
                 rate_seconds: float = STOREDEN_RATE.seconds, transport: httpx.BaseTransport | None = None,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 max_attempts: int = 4, max_429: int = 8, backoff: float = 1.0):
        self.base_url = base_url.rstrip("/")
        self.throttle = Throttle(rate_requests, rate_seconds, clock=clock, sleep=sleep)
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.max_429 = max_429
        self.backoff = backoff
        self.stats = ClientStats()
        self.http = httpx.Client(
            base_url=self.base_url, transport=transport,
            headers={"key": key, "exchange": exchange, "Accept": "application/json",
                     "User-Agent": f"feedsvc/{__version__}"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout))

    @classmethod
    def from_settings(cls, settings, **overrides) -> StoredenClient:
        options = {"rate_requests": settings.rate_requests, "rate_seconds": settings.rate_seconds, **overrides}
        return cls(settings.storeden_url, settings.storeden_key, settings.storeden_exchange, **options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> StoredenClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the one request loop ------------------------------------------------
    def _pause(self, seconds: float) -> None:
        self.stats.throttle_wait += seconds
        self.sleep(seconds)

    def request(self, path: str, params: dict | list | None = None) -> tuple[Any, str, int]:
        """GET `path`; returns (parsed JSON, body text, status). 404 raises StoredenNotFound."""
        failures = 0
        throttled = 0
        while True:
            before = self.throttle.waited
            self.throttle.acquire()
            self.stats.throttle_wait += self.throttle.waited - before
            self.stats.requests_sent += 1
            started = time.monotonic()
            try:
                response = self.http.get(path, params=params)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                failures += 1
                self.stats.errors += 1
                log.warning("storeden %s: %s (try %d of %d)", path, type(exc).__name__, failures,
                            self.max_attempts)
                if failures >= self.max_attempts:
                    raise StoredenError(f"Storeden did not answer {path}: {type(exc).__name__}",
                                        path=path) from None
                self._backoff(failures)
                continue
            log.debug("GET %s -> %s in %.2fs", path, response.status_code, time.monotonic() - started)
            self.throttle.observe_limit(response.headers.get("x-storeden-limit"))
            status = response.status_code
            if status == 429:
                throttled += 1
                self.stats.responses_429 += 1
                if throttled > self.max_429:
                    raise StoredenThrottledError(f"Storeden kept answering 429 to {path}", status=429, path=path)
                wait = parse_retry_after(response.headers.get("retry-after"))
                self.throttle.fill()
                if wait is not None:
                    self._pause(wait)
                self.stats.retries += 1
                continue
            if status in (401, 403):
                raise StoredenAuthError(f"Storeden rejected the key/exchange pair (HTTP {status} on {path})",
                                        status=status, path=path)
            if status == 509:
                raise StoredenQuotaError("Storeden's daily request quota is used up (HTTP 509); "
                                         "the next scheduled sync will carry on", status=509, path=path)
            if status >= 500:
                failures += 1
                self.stats.errors += 1
                if failures >= self.max_attempts:
                    raise StoredenError(f"Storeden answered {status} to {path} {failures} times", status=status,
                                        path=path)
                self._backoff(failures)
                continue
            return self._parse(response, path)

    def _backoff(self, failures: int) -> None:
        self.stats.retries += 1
        delay = min(self.backoff * 2 ** (failures - 1), 60.0)
        self._pause(delay * random.uniform(0.5, 1.0))

    def _parse(self, response: httpx.Response, path: str) -> tuple[Any, str, int]:
        text = response.text
        try:
            body = jsonutil.loads(text) if text.strip() else None
        except ValueError:
            body = None
            if response.status_code < 400:
                raise StoredenError(f"Storeden sent something that is not JSON for {path}: {text[:120]!r}",
                                    status=response.status_code, path=path) from None
        if response.status_code == 404:
            raise StoredenNotFound(f"{path}: {_error_message(body, text)}", status=404, path=path)
        if response.status_code >= 400:
            raise StoredenError(f"Storeden answered {response.status_code} to {path}: "
                                f"{_error_message(body, text)}", status=response.status_code, path=path)
        if isinstance(body, dict) and (body.get("error") or (body.get("err") is not None and "ok" in body
                                       and not body.get("ok"))):
            raise StoredenError(f"Storeden reported an error for {path}: {_error_message(body, text)}",
                                status=response.status_code, path=path)
        return body, text, response.status_code

    # -- endpoints -------------------------------------------------------------
    def list_pages(self, *, from_ts: int | None = None, to_ts: int | None = None, since: int | None = None,
                   limit: int = 100, nodes=("short_id",), status: int | None = None) -> Iterator[list[dict]]:
        """Pages of list.json until the first empty page (a short page is not proof of the end)."""
        if (from_ts is None) != (to_ts is None):
            raise ValueError("from_ts and to_ts go together")
        skip = 0
        while True:
            params: dict[str, Any] = {"limit": limit, "skip": skip}
            if from_ts is not None and to_ts is not None:
                params.update({"from": int(from_ts), "to": int(to_ts)})
            if since is not None:
                params["since"] = int(since)
            if status is not None:
                params["status"] = status
            if nodes:
                params["nodes"] = ",".join(nodes)
            body, _, _ = self.request("/orders/list.json", params)
            self.stats.pages += 1
            page = [entry for entry in (body or []) if isinstance(entry, dict)] if isinstance(body, list) else []
            if not page:
                return
            yield page
            skip += len(body)

    def list_orders(self, **kwargs) -> Iterator[dict]:
        seen: set[str] = set()
        for page in self.list_pages(**kwargs):
            for entry in page:
                order_id = str(entry.get("orderID") or "")
                if order_id and order_id not in seen:
                    seen.add(order_id)
                    yield entry

    def orders_filter(self, updated_from: int, updated_to: int | None = None, nodes=("short_id",)) -> dict:
        params: dict[str, Any] = {"updated_from": int(updated_from)}
        if updated_to is not None:
            params["updated_to"] = int(updated_to)
        if nodes:
            params["nodes"] = ",".join(nodes)
        body, _, _ = self.request("/orders/orders_filter.json", params)
        if isinstance(body, list):
            body = {"count": len(body), "orders": body}
        if not isinstance(body, dict) or not isinstance(body.get("orders", []), list):
            raise StoredenError("orders_filter.json answered an unexpected shape", path="/orders/orders_filter.json")
        body.setdefault("orders", [])
        return body

    def get_order_raw(self, order_id: str, *, legacy: bool = False) -> tuple[dict, str]:
        path = "/orders/legacy_order.json" if legacy else "/orders/order.json"
        body, text, _ = self.request(path, {"orderID": order_id})
        if not isinstance(body, dict):
            raise StoredenError(f"{path} for {order_id} is not a JSON object", path=path)
        return body, text

    def get_order(self, order_id: str, *, legacy: bool = False) -> dict:
        return self.get_order_raw(order_id, legacy=legacy)[0]

    def get_tracking_raw(self, order_id: str) -> tuple[dict | list | None, str | None]:
        """The tracking answer and its text: one shipment object, or a list of them should Storeden send
        one per parcel; (None, None) when no shipment in it has a tracking number."""
        try:
            body, text, _ = self.request("/orders/tracking.json", {"orderID": order_id})
        except StoredenNotFound:
            return None, None
        shipments = body if isinstance(body, list) else [body]
        if not any(isinstance(s, dict) and str(s.get("tracking") or "").strip() for s in shipments):
            return None, None
        return body, text

    def get_tracking(self, order_id: str) -> dict | list | None:
        return self.get_tracking_raw(order_id)[0]

    def checkout_methods(self) -> dict:
        body, _, _ = self.request("/orders/checkoutMethods.json")
        return body if isinstance(body, dict) else {}

    def couriers(self) -> dict:
        body, _, _ = self.request("/orders/couriers.json")
        if isinstance(body, list):
            return {str(c.get("code")): c for c in body if isinstance(c, dict) and c.get("code")}
        return body if isinstance(body, dict) else {}

    def statuses(self) -> dict:
        body, _, _ = self.request("/orders/statuses.json")
        return body if isinstance(body, dict) else {}

    def countries(self) -> Any:
        try:
            body, _, _ = self.request("/countries/list.json")
        except StoredenNotFound:
            return None
        return body
