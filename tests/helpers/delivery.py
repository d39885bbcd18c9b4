"""The delivery log in tests: Retino's user agent, and waiting (bounded) until the log has counted requests."""

from __future__ import annotations

import time
from pathlib import Path

from feedsvc.delivery import DeliveryLog

RETINO_AGENT = "Retino/2.0 (feed importer)"


def wait_for_requests(path: Path, expected: int, timeout: float = 20.0) -> DeliveryLog:
    """The log once it has counted `expected` requests (a row is written when its response is done with)."""
    log = DeliveryLog(path)
    deadline = time.monotonic() + timeout
    while sum(log.totals().values()) < expected:
        assert time.monotonic() < deadline, f"only {log.totals()} of {expected} requests were logged"
        time.sleep(0.05)
    return log
