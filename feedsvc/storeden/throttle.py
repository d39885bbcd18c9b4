"""One request budget shared by every Storeden call: N requests in any S-second window.

A sliding window of the send times of the last N requests. `acquire()` waits
only as long as the oldest of them needs to leave the window, so a long run
uses the whole budget. The server's `X-Storeden-Limit: left/quota` header
corrects our view: when it says fewer calls are left, the window is padded
with phantom sends; a smaller quota is adopted.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from feedsvc.storeden.vocabulary import parse_limit_header


class Throttle:
    def __init__(self, requests: int, seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if requests < 1 or seconds <= 0:
            raise ValueError("a budget needs at least one request in a positive span")
        self.requests = requests
        self.seconds = seconds
        # A hair longer than the server's window, so clock granularity never makes us one request early.
        self.margin = 0.02 + 0.005 * seconds
        self.clock = clock
        self.sleep = sleep
        self.sent: deque[float] = deque()
        self.waited = 0.0
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - self.seconds - self.margin:
            self.sent.popleft()

    def delay(self) -> float:
        """Seconds until one more request fits in the window."""
        now = self.clock()
        self._forget_old(now)
        if len(self.sent) < self.requests:
            return 0.0
        return self.sent[len(self.sent) - self.requests] + self.seconds + self.margin - now

    def free(self) -> int:
        """How many requests fit in the window right now, without waiting."""
        with self._lock:
            self._forget_old(self.clock())
            return max(self.requests - len(self.sent), 0)

    def acquire(self) -> None:
        """Wait until a request fits, then count it as sent now."""
        with self._lock:
            while (wait := self.delay()) > 0:
                self.waited += wait
                self.sleep(wait)
            self.sent.append(self.clock())

    def observe_limit(self, header: str | None) -> None:
        """Adjust to `X-Storeden-Limit: <left>/<quota>`; ignore anything malformed."""
        limit = parse_limit_header(header)
        if limit is None:
            return
        left, quota = limit
        with self._lock:
            if quota < self.requests:
                self.requests = quota
            now = self.clock()
            self._forget_old(now)
            used_by_server = self.requests - min(left, self.requests)
            while len(self.sent) < used_by_server:
                self.sent.append(now)
            self.sent = deque(sorted(self.sent))

    def fill(self) -> None:
        """The server refused us (429): treat the whole window as used from now."""
        with self._lock:
            now = self.clock()
            self.sent = deque([now] * self.requests)
