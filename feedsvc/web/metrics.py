"""`GET /metrics`: Prometheus text format, every figure read from the store and the snapshot at scrape time.

Nothing is counted in a process's memory, so whichever gunicorn worker
answers a scrape gives the same numbers. A custom collector (prometheus-client)
reads the snapshot's meta, the store (quarantine, pending orders, sync runs)
and the delivery log (feed requests per status, the last successful download).

Access: `Authorization: Bearer <FEEDSVC_METRICS_TOKEN>` (compared in constant
time) or the feed's Basic credentials. Anything else gets 401, and a wrong
credential counts in the failure limiter like any other. With neither a
metrics token nor Basic auth configured the route answers 404.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from feedsvc.delivery import DeliveryLog
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.web.auth import _same, basic_credentials, bearer_token, credentials_match, refuse_guess, unauthorized

bp = Blueprint("metrics", __name__)
log = logging.getLogger("feedsvc.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_USER = "(metrics)"


class StoreCollector:
    """Reads the figures when Prometheus scrapes, never before."""

    def __init__(self, settings, now: float):
        self.settings, self.now = settings, now

    def collect(self):
        settings, now = self.settings, self.now
        snapshot = current_snapshot(settings.snapshots_dir)
        orders = GaugeMetricFamily("feedsvc_snapshot_orders", "Orders in the published feed.")
        orders.add_metric([], float(snapshot.meta.get("orders", 0)) if snapshot else 0.0)
        yield orders
        if snapshot is not None:
            yield GaugeMetricFamily("feedsvc_snapshot_age_seconds", "Seconds since the served snapshot was published.",
                                    value=max(0.0, snapshot.age(now)))
        yield GaugeMetricFamily("feedsvc_max_snapshot_age_seconds", "FEEDSVC_MAX_SNAPSHOT_AGE.",
                                value=settings.max_snapshot_age)
        yield GaugeMetricFamily("feedsvc_max_fetch_age_seconds", "FEEDSVC_MAX_FETCH_AGE.",
                                value=settings.max_fetch_age)
        yield from self._store_figures(settings, now)
        yield from self._delivery_figures(settings)

    def _store_figures(self, settings, now):
        with Store.open(settings) as store:
            quarantined = store.count_quarantine()
            _, pending = store.count_window_pending(int(now - settings.days * 86400), settings.exclude_statuses)
            requests, throttled = store.sync_totals()
            failed_publish = store.last_publish_error() is not None
            last_ok = store.last_successful_sync()
        yield GaugeMetricFamily("feedsvc_quarantined_orders", "Orders left out of the feed with a reason.",
                                value=quarantined)
        yield GaugeMetricFamily("feedsvc_pending_orders", "Orders of the window still waiting for Storeden.",
                                value=pending)
        yield CounterMetricFamily("feedsvc_sync_requests", "Requests sent to Storeden by every sync run.",
                                  value=requests)
        yield CounterMetricFamily("feedsvc_sync_429", "Storeden answers 429 (throttled) to every sync run.",
                                  value=throttled)
        yield GaugeMetricFamily("feedsvc_publish_failed", "1 when the last publish failed (the previous feed is "
                                "served).", value=1.0 if failed_publish else 0.0)
        if last_ok is not None:
            yield GaugeMetricFamily("feedsvc_last_successful_sync_timestamp_seconds",
                                    "When the last fully successful sync started (Unix time).",
                                    value=last_ok.started_at)

    def _delivery_figures(self, settings):
        with DeliveryLog(settings.delivery_log_path) as deliveries:
            totals = deliveries.totals()
            last = deliveries.last_success()
        requests = CounterMetricFamily("feedsvc_feed_requests", "Feed requests answered, by HTTP status.",
                                       labels=["status"])
        for status, count in sorted(totals.items()):
            requests.add_metric([str(status)], count)
        yield requests
        if last is not None:
            yield GaugeMetricFamily("feedsvc_last_successful_fetch_timestamp_seconds",
                                    "When the feed was last downloaded with a 200 or 304 answer (Unix time).",
                                    value=last.at)


def _refusal(settings) -> Response | None:
    """None when the request may read the metrics; otherwise the answer to give."""
    token = bearer_token()
    if token is not None:
        if settings.metrics_token and _same(token, settings.metrics_token):
            return None
        return refuse_guess(METRICS_USER, unauthorized())
    given = basic_credentials()
    if credentials_match(given, settings):
        return None
    if "Authorization" not in request.headers:
        return unauthorized()
    return refuse_guess(given[0] if given else "", unauthorized())


@bp.route("/metrics", methods=["GET"])
def metrics():
    settings = current_app.config["FEEDSVC_SETTINGS"]
    if not settings.metrics_token and not settings.basic_auth_enabled:
        return Response("Not Found\n", status=404, mimetype="text/plain")
    refusal = _refusal(settings)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(settings, time.time()))
    try:
        body = generate_latest(registry)
    except Exception as exc:  # the store may be locked or missing; say so without a trace
        log.error("metrics unavailable: %s", type(exc).__name__)
        return Response("metrics unavailable right now\n", status=503, mimetype="text/plain",
                        headers={"Cache-Control": "no-store"})
    return Response(body, content_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
