"""What the Storeden simulator remembers between requests: its shop, credentials, throttle, faults and counters."""

from __future__ import annotations

import collections
import hmac
import random
import threading
import time
from dataclasses import asdict, dataclass, field

from flask import current_app

from feedsvc.storeden.shop import Shop
from feedsvc.storeden.vocabulary import Rate

EXTENSION = "feedsvc.storeden_sandbox"
HOLD_LIMIT = 300  # seconds a held request waits at most, so a forgotten hold cannot hang a test run


@dataclass
class Faults:
    """Injected trouble, each a fraction of requests (drawn from a generator seeded with `seed`)."""

    error_rate: float = 0.0
    throttle_storm_rate: float = 0.0
    timeout_rate: float = 0.0
    latency: float = 0.0
    seed: int = 7


class SlidingWindow:
    """The server side of the throttle: N requests in any S seconds."""

    def __init__(self, rate: Rate):
        self.requests, self.seconds = rate.requests, rate.seconds
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        """(allowed, requests left in the window) for one more request now."""
        with self.lock:
            now = time.monotonic()
            while self.sent and self.sent[0] <= now - self.seconds:
                self.sent.popleft()
            if len(self.sent) >= self.requests:
                return False, 0
            self.sent.append(now)
            return True, self.requests - len(self.sent)


@dataclass
class SandboxState:
    shop: Shop
    key: str
    exchange: str
    window: SlidingWindow
    retry_after: bool = False  # whether a 429 carries Retry-After (the real API's does not)
    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    stats: collections.Counter[str] = field(default_factory=collections.Counter)
    gate_open: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    roll_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.gate_open.set()

    def authorised(self, key: str, exchange: str) -> bool:
        return hmac.compare_digest(key, self.key) and hmac.compare_digest(exchange, self.exchange)

    def roll(self) -> tuple[float, float, float]:
        """This request's draws for a throttle storm, an error and a time-out."""
        with self.roll_lock:
            storm, error, timeout = (self.rng.random() for _ in range(3))
        return storm, error, timeout

    def set_faults(self, **changes) -> Faults:
        """Change some fault settings; the draws start again from the (new) seed."""
        self.faults = Faults(**{**asdict(self.faults), **changes})
        self.rng = random.Random(self.faults.seed)
        return self.faults

    def set_rate(self, rate: Rate) -> None:
        self.window = SlidingWindow(rate)

    def hold(self) -> None:
        """Make every API request wait until release(): a sync in flight stays in flight."""
        self.held.clear()
        self.gate_open.clear()

    def release(self) -> None:
        self.gate_open.set()

    def wait_while_held(self) -> None:
        """Called by each API request: wait here while the shop is held, saying that one arrived."""
        if not self.gate_open.is_set():
            self.held.set()
            self.gate_open.wait(timeout=HOLD_LIMIT)


def current_state() -> SandboxState:
    """The state of the simulator handling the current request."""
    return current_app.extensions[EXTENSION]
