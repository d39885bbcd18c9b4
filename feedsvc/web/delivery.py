"""Recording every feed request in the delivery log, once its answer has left (or the client went away).

`install(app, log)` hooks the feed routes: the request's start is noted
before the view runs; after it, the answer is recorded when its body is done
with. A file body (the snapshot) is counted chunk by chunk as the server
writes it, and a chunk counts only once the server asks for the next one or
the body ends, so a client that hangs up mid-download shows the bytes it
really got. The client address is `request.remote_addr`, which the trusted
proxy middleware (proxy.py) has already set to the forwarded one when the
peer is a listed proxy. The user agent is redacted like a log line: a client
that puts the token in it does not get it written down.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from flask import Flask, Response, g, request

from feedsvc.delivery import DeliveryLog
from feedsvc.web.redact import REDACTED, Redactor

FEED_ROUTES = {"feed.basic_feed": "basic", "feed.basic_feed_gz": "basic-gz",
               "feed.token_feed": "token", "feed.token_feed_gz": "token-gz"}
CONFIG_KEY = "FEEDSVC_DELIVERY_LOG"  # None turns recording off (the benchmark's baseline does)


class CountingBody:
    """A response body that counts the bytes the server took and reports them once, when closed."""

    def __init__(self, inner, on_close):
        self.inner = inner
        self.on_close = on_close
        self.sent = 0
        self._closed = False

    def __iter__(self):
        pending = 0
        for chunk in self.inner:
            self.sent += pending  # the server asked for more: the previous chunk went out
            pending = len(chunk)
            yield chunk
        self.sent += pending

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if hasattr(self.inner, "close"):
                self.inner.close()
        finally:
            self.on_close(self.sent)


def _agent(redactor: Redactor, user_agent: str) -> str:
    """The user agent as it may be written down: redacted like a log line, and dropped whole should a
    secret still show in it."""
    text = redactor.line(user_agent)
    return REDACTED if redactor.holds_secret(text) else text


def install(app: Flask, delivery_log: DeliveryLog | None, redactor: Redactor) -> None:
    app.config[CONFIG_KEY] = delivery_log
    agent = functools.lru_cache(maxsize=512)(lambda user_agent: _agent(redactor, user_agent))  # Retino's is one

    @app.before_request
    def note_start() -> None:
        if request.endpoint in FEED_ROUTES:
            g.delivery_started = time.perf_counter()

    @app.after_request
    def record_when_done(response: Response) -> Response:
        route = FEED_ROUTES.get(request.endpoint or "")
        target: DeliveryLog | None = app.config.get(CONFIG_KEY)
        if route is None or target is None:
            return response
        started = g.get("delivery_started", time.perf_counter())
        details: dict[str, Any] = {
            "route": route, "status": response.status_code, "client": request.remote_addr or "unknown",
            "method": request.method, "user_agent": agent(request.headers.get("User-Agent", ""))}

        def done(sent: int) -> None:
            target.record(sent=sent, duration=time.perf_counter() - started, **details)

        if response.direct_passthrough and request.method != "HEAD" and response.status_code == 200:
            response.response = CountingBody(response.response, done)
        else:  # a short answer (304, 401, 404, 429, 503, HEAD): its length is known
            sent = 0 if request.method == "HEAD" or response.status_code == 304 else \
                (response.calculate_content_length() or 0)
            response.call_on_close(lambda: done(sent))
        return response
