"""Reading a server's `Retry-After` (RFC 9110 §10.2.3): seconds, or an HTTP date; for both API clients."""

from __future__ import annotations

import math
import time

from werkzeug.http import parse_date


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait: delta-seconds, or the time until an HTTP date (0 when it is past); None when unreadable.

    `now` is the wall-clock time (epoch seconds), by default time.time().
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = parse_date(value.strip())
        if when is None:
            return None
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    return seconds if seconds >= 0 and math.isfinite(seconds) else None
