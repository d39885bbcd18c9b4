"""The sync's progress report: one line with an ETA on a terminal, a log line now and then elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from feedsvc.durations import format_eta

LOG_EVERY = 30.0  # seconds between progress log lines when not on a terminal


class Progress:
    """Shows `label done/total orders · N requests · ETA 3m05s` while a run fetches orders."""

    def __init__(self, enabled: bool, seconds_per_request: float, *, log: logging.Logger,
                 stream: TextIO = sys.stderr):
        self.enabled = enabled
        self.per_request = seconds_per_request
        self.log = log
        self.stream = stream
        self.last_log = 0.0
        self.on_tty = enabled and hasattr(stream, "isatty") and stream.isatty()

    def show(self, label: str, done: int, total: int, requests: int, remaining_requests: int) -> None:
        if not self.enabled:
            return
        eta = format_eta(remaining_requests * self.per_request)
        text = f"{label} {done}/{total} orders · {requests} requests · ETA {eta}"
        if self.on_tty:
            self.stream.write("\r" + text.ljust(70))
            self.stream.flush()
        elif time.monotonic() - self.last_log > LOG_EVERY or done == total:
            self.last_log = time.monotonic()
            self.log.info(text)

    def close(self) -> None:
        if self.on_tty:
            self.stream.write("\n")
            self.stream.flush()
