"""What the Retino simulator remembers, behind one lock: stored orders, shipments, a log of calls, faults."""

from __future__ import annotations

import hmac
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from flask import current_app

from feedsvc.retino.sandbox.checks import Invalid, check_item_sums, check_order

EXTENSION = "feedsvc.retino_sandbox"
BULK_SHAPES = ("split", "results", "silent")
CALL_LOG_SIZE = 10_000


@dataclass
class Faults:
    """Injected trouble: the next `count` calls answer `status`; after those, `rate` of calls do.

    `after`: the order is stored first and then the error sent, as when a
    gateway times out on work that was done.
    """

    status: int = 503
    count: int = 0
    rate: float = 0.0
    rate_statuses: list[int] = field(default_factory=lambda: [429, 500, 502, 503])
    retry_after: str | None = "1"
    after: bool = False
    seed: int = 7


class SandboxState:
    """Everything the simulator remembers, behind one lock."""

    def __init__(self, token: str, store_ids: tuple[str, ...]):
        self.token = token
        self.lock = threading.RLock()
        self.store_ids = set(store_ids)
        self.bulk_shape = "split"
        self.items_must_add_up = False  # a stricter price rule than the document's (checks.check_item_sums)
        self.shipments_endpoint = True  # False: POST /tracking-shipping answers 404, as if Retino had none
        self.reset()

    def authorised(self, header: str) -> bool:
        """The exact `Authorization: <token>` header, no scheme word."""
        return hmac.compare_digest(header.encode(), self.token.encode())

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[tuple[str, str], dict] = {}
            self.by_id: dict[str, tuple[str, str]] = {}
            self.shipments: list[dict] = []
            self.calls: deque[dict] = deque(maxlen=CALL_LOG_SIZE)
            self.faults = Faults()
            self.rng = random.Random(self.faults.seed)

    def upsert(self, order: dict) -> tuple[int, dict]:
        """(201 or 200, the stored order) or Invalid."""
        check_order(order)
        if order["store_id"] not in self.store_ids:
            raise Invalid(f"Store ID '{order['store_id']}' does not exist")
        if self.items_must_add_up:
            check_item_sums(order)
        key = (order["store_id"], order["code"])
        with self.lock:
            now = time.time()
            existing = self.orders.get(key)
            if existing is None:
                stored = {**order, "id": str(uuid.uuid4()), "_created": now, "_updated": now, "_writes": 1}
                self.orders[key] = stored
                self.by_id[stored["id"]] = key
                return 201, stored
            stored = {**order, "id": existing["id"], "_created": existing["_created"], "_updated": now,
                      "_writes": existing["_writes"] + 1}
            self.orders[key] = stored
            return 200, stored

    def find(self, order_id: str) -> dict | None:
        with self.lock:
            key = self.by_id.get(order_id)
            return self.orders.get(key) if key else None

    def draw_fault(self) -> Faults | None:
        """The fault to answer this call with, if any, consuming one of `count`."""
        with self.lock:
            faults = self.faults
            if faults.count > 0:
                faults.count -= 1
                return Faults(status=faults.status, retry_after=faults.retry_after, after=faults.after)
            if faults.rate and self.rng.random() < faults.rate:
                status = self.rng.choice(faults.rate_statuses)
                return Faults(status=status, retry_after=faults.retry_after, after=faults.after)
        return None

    def log_call(self, method: str, path: str, status: int, **extra) -> None:
        with self.lock:
            self.calls.append({"method": method, "path": path, "status": status, "at": time.time(), **extra})


def public(order: dict) -> dict:
    """A stored order as the API shows it (without the simulator's bookkeeping)."""
    return {k: v for k, v in order.items() if not k.startswith("_")}


def current_state() -> SandboxState:
    """The state of the simulator handling the current request."""
    return current_app.extensions[EXTENSION]
