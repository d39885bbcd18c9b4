"""Who may read the feed: the secret-URL token and HTTP Basic auth, checked in constant time.

Failures are counted per client address in a bounded table; a client that
keeps failing gets 429 with Retry-After instead of more guesses. The table
lives in each gunicorn worker (so the real limit is per worker), which is
enough to make guessing a 256-bit token or a random password pointless.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading
import time
from collections import OrderedDict
from functools import wraps

from flask import Response, current_app, request

REALM_HEADER = 'Basic realm="feedsvc", charset="UTF-8"'


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def check_token(given: str, settings) -> bool:
    return bool(settings.feed_token) and _same(given, settings.feed_token)


def basic_credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def check_basic(settings) -> bool:
    if not settings.basic_auth_enabled:
        return False
    given = basic_credentials()
    if given is None:
        return False
    user_ok = _same(given[0], settings.feed_user)
    password_ok = _same(given[1], settings.feed_password)
    return user_ok & password_ok


class FailureLimiter:
    """At most `limit` failures per client in `window` seconds; remembers at most `capacity` clients."""

    def __init__(self, limit: int = 10, window: float = 60.0, capacity: int = 10_000):
        self.limit, self.window, self.capacity = limit, window, capacity
        self.failures: OrderedDict[str, list[float]] = OrderedDict()
        self.lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        stamps = [t for t in self.failures.get(client, []) if t > now - self.window]
        if stamps:
            self.failures[client] = stamps
            self.failures.move_to_end(client)
        else:
            self.failures.pop(client, None)
        return stamps

    def blocked_for(self, client: str) -> float:
        """Seconds this client must wait, 0 when it may try."""
        now = time.monotonic()
        with self.lock:
            stamps = self._recent(client, now)
            if len(stamps) < self.limit:
                return 0.0
            return stamps[0] + self.window - now

    def fail(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            stamps = self._recent(client, now)
            stamps.append(now)
            self.failures[client] = stamps
            self.failures.move_to_end(client)
            while len(self.failures) > self.capacity:
                self.failures.popitem(last=False)


def too_many(wait: float) -> Response:
    return Response("Too many failed attempts; try again later.\n", status=429, mimetype="text/plain",
                    headers={"Retry-After": str(max(1, int(wait) + 1))})


def unauthorized() -> Response:
    return Response("Authentication required.\n", status=401, mimetype="text/plain",
                    headers={"WWW-Authenticate": REALM_HEADER})


def client_id() -> str:
    return request.remote_addr or "unknown"


def require_basic_auth(view=None, *, disabled_message: str = "Not Found\n"):
    """Protect a view with the feed's Basic-auth credentials (and the failure limiter).

    Without Basic-auth credentials configured the view answers 404 with
    `disabled_message`: the token alone never opens it.
    """
    if view is None:
        return lambda inner: require_basic_auth(inner, disabled_message=disabled_message)

    @wraps(view)
    def guarded(*args, **kwargs):
        settings = current_app.config["FEEDSVC_SETTINGS"]
        limiter: FailureLimiter = current_app.config["FEEDSVC_LIMITER"]
        wait = limiter.blocked_for(client_id())
        if wait > 0:
            return too_many(wait)
        if not settings.basic_auth_enabled:
            return Response(disabled_message, status=404, mimetype="text/plain")
        if not check_basic(settings):
            if request.headers.get("Authorization"):
                limiter.fail(client_id())
            return unauthorized()
        return view(*args, **kwargs)
    return guarded
