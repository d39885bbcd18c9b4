"""`GET /metrics`: Prometheus text format, every figure read from the store and the snapshot at scrape time.

Nothing is counted in a process's memory, so whichever gunicorn worker
answers a scrape gives the same numbers. A custom collector (prometheus-client)
reads the snapshot's meta, the store (quarantine, pending orders, sync runs;
in push mode the window's orders by state in Retino and the push runs'
figures) and the delivery log (feed requests per status, the last successful
download). Counters are sums over rows the store never prunes (sync runs,
push runs, the delivery log's totals), so they only grow.

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
from feedsvc.retino.push_payload import NOT_PUSHED
from feedsvc.store import Store
from feedsvc.web.auth import _same, basic_credentials, bearer_token, credentials_match, refuse_guess, unauthorized

bp = Blueprint("metrics", __name__)
log = logging.getLogger("feedsvc.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_USER = "(metrics)"
PUSH_WENT_THROUGH = ("ok", "rejected")  # a run that reached its end ("rejected": Retino refused some orders)
PUSH_STOPPED = ("auth_failed", "unknown_store", "unavailable", "failed")
PUSH_COUNTERS = (  # push_runs column, metric name, help
    ("sent", "feedsvc_push_orders_sent", "Orders sent to Retino's Orders API by every push."),
    ("confirmed", "feedsvc_push_orders_confirmed", "Orders Retino confirmed, over every push."),
    ("rejected", "feedsvc_push_orders_rejected", "Orders Retino refused (its message is on the dashboard), over "
                                                 "every push."),
    ("unconfirmed", "feedsvc_push_orders_unconfirmed", "Orders sent without an answer for them (sent again next "
                                                       "time), over every push."),
    ("shipments", "feedsvc_push_shipments", "Package numbers sent as shipments, over every push."),
    ("calls", "feedsvc_push_api_calls", "Calls to Retino's API (one bulk call carries up to 100 orders)."),
    ("requests", "feedsvc_push_api_requests", "HTTP requests to Retino's API, retries included."),
    ("responses_429", "feedsvc_push_api_429", "Retino's answers 429 (throttled)."),
    ("responses_5xx", "feedsvc_push_api_5xx", "Retino's answers 5xx."),
)


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
        since_ts = int(now - settings.days * 86400)
        with Store.open(settings) as store:
            quarantined = store.count_quarantine()
            _, pending = store.count_window_pending(since_ts, settings.exclude_statuses)
            requests, throttled = store.sync_totals()
            failed_publish = store.last_publish_error() is not None
            last_ok = store.last_successful_sync()
            push = list(self._push_figures(settings, store, since_ts)) if settings.push_enabled else []
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
        yield GaugeMetricFamily("feedsvc_push_enabled", "1 in push mode (FEEDSVC_RETINO_TOKEN and "
                                "FEEDSVC_RETINO_STORE_ID set).", value=1.0 if settings.push_enabled else 0.0)
        yield from push

    @staticmethod
    def _push_figures(settings, store, since_ts):
        counts = store.push_counts(since_ts, settings.exclude_statuses, NOT_PUSHED)
        totals = store.push_totals()
        last = counts.last_run
        went_through = store.last_push_run_in(PUSH_WENT_THROUGH)
        orders = GaugeMetricFamily("feedsvc_push_orders", "The window's published orders by their state in Retino "
                                   "(confirmed: Retino has the published version; rejected: refused; pending: the "
                                   "next push sends them).", labels=["state"])
        for state, value in (("confirmed", counts.confirmed), ("pending", counts.pending),
                             ("rejected", counts.rejected)):
            orders.add_metric([state], value)
        yield orders
        yield GaugeMetricFamily("feedsvc_push_left_retino_orders", "Orders in Retino since archived or aborted in "
                                "Storeden (reported, not deleted).", value=counts.left_retino)
        for column, name, text in PUSH_COUNTERS:
            yield CounterMetricFamily(name, text, value=totals[column])
        if last is not None:
            yield GaugeMetricFamily("feedsvc_last_push_timestamp_seconds", "When the last push started (Unix time).",
                                    value=last.started_at)
            yield GaugeMetricFamily("feedsvc_push_stopped", "1 when the last push stopped (wrong token, unknown "
                                    "store id, Retino unavailable); the dashboard says why.",
                                    value=1.0 if last.status in PUSH_STOPPED else 0.0)
        if went_through is not None:
            yield GaugeMetricFamily("feedsvc_last_successful_push_timestamp_seconds",
                                    "When the last push that reached its end finished (Unix time).",
                                    value=went_through.ended_at or went_through.started_at)

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
