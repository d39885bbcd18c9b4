"""The dashboard's view of delivery: who downloaded the feed, when, with what answer; and the backfill's progress.

`delivery_summary()` is the overview's Delivery card (the last successful
download, by what, how long ago, with what answer, and a warning with what
to check when nothing has fetched the feed for FEEDSVC_MAX_FETCH_AGE or
ever). `/deliveries` lists the log, newest first, paged, with a chart of
requests per day by outcome. Query parameters go through `params.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, current_app

from feedsvc.delivery import Delivery, DeliveryLog
from feedsvc.durations import format_age
from feedsvc.web.charts import STATUS_CLASSES, requests_per_day_svg
from feedsvc.web.dashboard import CSP, PAGE, _render, require_basic_auth
from feedsvc.web.params import OneOf, link, query_values

bp = Blueprint("deliveries", __name__, template_folder="templates")
PER_PAGE = 50
CHART_DAYS = 29  # with today: the 30 days the log keeps
FILTERS = {"show": OneOf(("all", "failed", "ok"), default="all")}


@bp.after_request
def content_security(response):
    response.headers["Content-Security-Policy"] = CSP
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def outcome(status: int) -> str:
    """The class a status belongs to on the chart and in badges: ok, refused, unavailable."""
    return next(name for name, _, test in STATUS_CLASSES if test(status) or name == "unavailable")


@dataclass(frozen=True)
class DeliverySummary:
    last_success: Delivery | None
    failing_since: Delivery | None  # the last downloader's latest refusal since (see DeliveryLog)
    age: float | None  # seconds since the last successful download
    max_age: int

    @property
    def overdue(self) -> bool:
        return self.age is not None and self.age > self.max_age

    @property
    def never(self) -> bool:
        return self.last_success is None

    @property
    def line(self) -> str:
        """`Retino, 2 h 05 min ago, 304 not modified`."""
        if self.last_success is None:
            return "never"
        return f"{self.last_success.agent_name}, {format_age(self.age)} ago, {self.last_success.status_text}"


def delivery_summary(settings, now: float | None = None) -> DeliverySummary:
    now = time.time() if now is None else now
    with DeliveryLog(settings.delivery_log_path) as deliveries:
        last, failed = deliveries.last_success(), deliveries.refused_since_last_success()
    return DeliverySummary(last, failed, None if last is None else max(0.0, now - last.at), settings.max_fetch_age)


@bp.app_template_filter("outcome")
def _outcome(status: int) -> str:
    return outcome(status)


@bp.route("/deliveries")
@require_basic_auth
def deliveries():
    settings = current_app.config["FEEDSVC_SETTINGS"]
    shown = query_values(FILTERS)["show"]
    page = query_values({"page": PAGE})["page"]
    now = time.time()
    offset = int((datetime.now(settings.zone).utcoffset() or timedelta(0)).total_seconds())
    today = int((now + offset) // 86400)
    with DeliveryLog(settings.delivery_log_path) as log:
        rows, total = log.page(page=page, per_page=PER_PAGE, failed={"all": None, "failed": True, "ok": False}[shown])
        per_day = log.per_day((today - CHART_DAYS) * 86400 - offset, offset)
    chart = requests_per_day_svg(per_day, days=CHART_DAYS, today=today)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)

    def page_link(**changes) -> str:
        return link("deliveries.deliveries", **{"show": None if shown == "all" else shown, **changes})

    return _render("deliveries.html", rows=rows, total=total, page=page, pages=pages, shown=shown, chart=chart,
                   page_link=page_link, summary=delivery_summary(settings, now), now=now, settings=settings,
                   legend=STATUS_CLASSES)
