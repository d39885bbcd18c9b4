"""Who may read the feed: the secret-URL token and HTTP Basic auth, checked in constant time.

Right credentials are always served: they are checked first, and the failure
limiter only ever stands in the way of wrong ones, so nobody can lock Retino
out by failing on purpose from its address or a shared proxy's. Failures are
counted per client address and per (address, user) in `auth.sqlite3`, which
every gunicorn worker shares; a client over the limit gets 429 with
Retry-After instead of another answer to its guess. A wrong token counts as a
failure of the pseudo-user `(token)`. IPv6 clients are counted per /64, the
block one subscriber usually gets. The client address is the peer's, or the
one a trusted proxy forwarded (see `proxy.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from functools import wraps
from pathlib import Path

from flask import Response, current_app, request

from feedsvc.addresses import client_group
from feedsvc.auth_failures import AuthFailures

REALM_HEADER = 'Basic realm="feedsvc", charset="UTF-8"'
TOKEN_USER = "(token)"
log = logging.getLogger(__name__)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def check_token(given: str, settings) -> bool:
    return bool(settings.feed_token) and _same(given, settings.feed_token)


def basic_credentials() -> tuple[str, str] | None:
    """(user, password) from `Authorization: Basic …` (werkzeug parses it), or None."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username is None:
        return None
    return auth.username, auth.password or ""


def credentials_match(given: tuple[str, str] | None, settings) -> bool:
    if given is None or not settings.basic_auth_enabled:
        return False
    user_ok = _same(given[0], settings.feed_user)
    password_ok = _same(given[1], settings.feed_password)
    return user_ok & password_ok


def check_basic(settings) -> bool:
    return credentials_match(basic_credentials(), settings)


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer …`, or None."""
    auth = request.authorization
    return auth.token if auth is not None and auth.type == "bearer" and auth.token else None


class FailureLimiter:
    """At most `per_user` failures per (address, user) and `per_address` per address in `window` seconds.

    The counts live in a SQLite file every worker process opens for itself.
    When that file cannot be used the limiter lets requests through (and
    says so in the log): an unusable limiter must not stop Retino.
    """

    def __init__(self, path: Path | str, *, per_user: int = 10, per_address: int = 30, window: float = 60.0,
                 clock=time.time):
        self.path = Path(path)
        self.per_user, self.per_address, self.window, self.clock = per_user, per_address, window, clock
        self._lock = threading.Lock()
        self._store: AuthFailures | None = None
        self._pid: int | None = None

    def _failures(self) -> AuthFailures:
        if self._store is None or self._pid != os.getpid():  # a forked worker opens its own connection
            self._store, self._pid = AuthFailures(self.path), os.getpid()
        return self._store

    def _limits(self, address: str, user: str) -> dict[str, int]:
        digest = hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        return {f"a {address}": self.per_address, f"u {address} {digest}": self.per_user}

    def blocked_for(self, address: str, user: str) -> float:
        """Seconds this client must wait before another attempt as `user`; 0 when it may try."""
        limits = self._limits(address, user)
        now = self.clock()
        try:
            with self._lock:
                counts = self._failures().counts(limits, now=now, window=self.window)
        except Exception as exc:  # sqlite3 or OS trouble: never refuse because of it
            log.warning("failure limiter unavailable (%s); not limiting", type(exc).__name__)
            return 0.0
        waits = [start + self.window - now for key, (failures, start) in counts.items() if failures >= limits[key]]
        return max(waits, default=0.0)

    def fail(self, address: str, user: str) -> None:
        try:
            with self._lock:
                self._failures().add(self._limits(address, user), now=self.clock(), window=self.window)
        except Exception as exc:
            log.warning("failure limiter unavailable (%s); a failure was not counted", type(exc).__name__)


def client_address() -> str:
    """The address failures are counted under: the client's IPv4 address, or its IPv6 /64."""
    return client_group(request.remote_addr or "unknown")


def limiter() -> FailureLimiter:
    return current_app.config["FEEDSVC_LIMITER"]


def refuse_guess(user: str, refusal: Response) -> Response:
    """A wrong credential: 429 while this client is over its limit, else count it and answer `refusal`."""
    address = client_address()
    wait = limiter().blocked_for(address, user)
    if wait > 0:
        return too_many(wait)
    limiter().fail(address, user)
    return refusal


def too_many(wait: float) -> Response:
    return Response("Too many failed attempts; try again later.\n", status=429, mimetype="text/plain",
                    headers={"Retry-After": str(max(1, int(wait) + 1))})


def unauthorized() -> Response:
    return Response("Authentication required.\n", status=401, mimetype="text/plain",
                    headers={"WWW-Authenticate": REALM_HEADER})


def require_basic_auth(view=None, *, disabled_message: str = "Not Found\n"):
    """Protect a view with the feed's Basic-auth credentials (and the failure limiter).

    Without Basic-auth credentials configured the view answers 404 with
    `disabled_message`: the token alone never opens it. A request without an
    Authorization header gets 401 and is not counted as a failure.
    """
    if view is None:
        return lambda inner: require_basic_auth(inner, disabled_message=disabled_message)

    @wraps(view)
    def guarded(*args, **kwargs):
        settings = current_app.config["FEEDSVC_SETTINGS"]
        if not settings.basic_auth_enabled:
            return Response(disabled_message, status=404, mimetype="text/plain")
        given = basic_credentials()
        if credentials_match(given, settings):
            return view(*args, **kwargs)
        if "Authorization" not in request.headers:
            return unauthorized()
        return refuse_guess(given[0] if given else "", unauthorized())
    return guarded
