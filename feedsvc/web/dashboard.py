"""The dashboard: what Retino gets, order by order, and whether the sync is healthy.

Server-rendered pages behind the feed's Basic-auth credentials, with a strict
Content-Security-Policy (no inline code, nothing from other hosts). The secret
feed token never appears in a page until the user asks for it with a POST.
Query parameters go through `params.query_values` (400 for nonsense), and
links are relative: an order's CODE, whatever characters it holds, travels
percent-encoded in a query parameter (`/order?code=…`), never as a path
segment a browser would resolve (`..`) or split (`/`). The feed URLs shown for
Retino are completed with the browser's own origin by app.js, not with the
Host header this server was sent.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, session, url_for
from lxml import etree

from feedsvc import jsonutil
from feedsvc.backfill import read_progress
from feedsvc.pipeline import PipelineBusy, pipeline_state, start_in_background
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.vocabulary import STATUS_NAMES
from feedsvc.web import push_view
from feedsvc.web.auth import require_basic_auth as _require_basic_auth
from feedsvc.web.charts import orders_per_day_svg
from feedsvc.web.highlight import highlight_json, highlight_xml
from feedsvc.web.params import Exact, Number, OneOf, Text, link, query_values

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
STATUS_LABELS = STATUS_NAMES
PER_PAGE = 50
DISABLED = ("The dashboard is off: it opens only with a user and password. Set FEEDSVC_FEED_USER and "
            "FEEDSVC_FEED_PASSWORD (feedsvc init writes both).\n")
require_basic_auth = _require_basic_auth(disabled_message=DISABLED)
FEED_ORDERS_PER_PAGE = 25
MAX_PAGE = 1_000_000
PAGE = Number(1, MAX_PAGE, default=1)
ORDER_FILTERS = {
    "q": Text(200, default=""),
    "status": OneOf(tuple(str(code) for code in STATUS_LABELS)),
    "cod": OneOf(("yes", "no")),
    "package": OneOf(("yes", "no")),
    "sort": OneOf(("date", "code", "customer", "total"), default="date"),
    "dir": OneOf(("asc", "desc"), default="desc"),
}


@bp.after_request
def content_security(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _settings():
    return current_app.config["FEEDSVC_SETTINGS"]


def _store() -> Store:
    return Store.open(_settings())


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token", "")
    expected = session.get("csrf", "")
    if not expected or not secrets.compare_digest(sent, expected):
        abort(403)


@bp.app_template_filter("when")
def _when(ts) -> str:
    if not ts:
        return "—"
    return datetime.fromtimestamp(float(ts), _settings().zone).strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("age")
def _age(seconds) -> str:
    from feedsvc.durations import format_age
    return format_age(seconds)


def order_link(code: str) -> str:
    return link("dashboard.order_by_query", code=code)


def quarantine_raw_link(order_id: str) -> str:
    return link("dashboard.quarantine_raw_by_query", order_id=order_id)


def _render(template: str, **context) -> str:
    return render_template(template, csrf=_csrf_token(), status_labels=STATUS_LABELS, order_link=order_link,
                           quarantine_raw_link=quarantine_raw_link, **context)


def _window_start() -> int:
    return int(time.time() - _settings().days * 86400)


@bp.route("/")
@require_basic_auth
def overview():
    settings = _settings()
    snapshot = current_snapshot(settings.snapshots_dir)
    now = time.time()
    from feedsvc.web.deliveries import delivery_summary  # deliveries.py builds on this module

    running = running_pipeline() is not None
    with _store() as store:
        backfill = read_progress(store, settings, running=running, now=now)
        last_run = store.last_sync_run()
        quarantined = len(store.list_quarantine())
        warnings = store.count_findings("warning")
        publish_error = store.last_publish_error()
        offset = int((datetime.now(settings.zone).utcoffset() or timedelta(0)).total_seconds())
        per_day = store.orders_per_day(_window_start(), offset, settings.exclude_statuses)
        push = push_view.overview(settings, store, now)
    chart = orders_per_day_svg(per_day, days=settings.days, today=int((now + offset) // 86400))
    next_sync = (last_run.started_at + settings.sync_interval) if last_run else None
    return _render("overview.html", snapshot=snapshot, now=now, last_run=last_run, quarantined=quarantined,
                   warnings=warnings, publish_error=publish_error, chart=chart, next_sync=next_sync,
                   settings=settings, feed_path=url_for("feed.basic_feed"), push=push, backfill=backfill,
                   summary=delivery_summary(settings, now),
                   token_path_masked="/feed/" + "•" * 12 + ".xml")


@bp.route("/reveal-token", methods=["POST"])
@require_basic_auth
def reveal_token():
    _check_csrf()
    settings = _settings()
    if not settings.feed_token:
        abort(404)
    # a path: app.js puts the browser's own origin in front of it
    return jsonify({"path": url_for("feed.token_feed", token=settings.feed_token)})


@bp.route("/orders")
@require_basic_auth
def orders():
    settings = _settings()
    filters = query_values(ORDER_FILTERS)
    page = query_values({"page": PAGE})["page"]  # kept apart: the page links change it
    yes_no = {"yes": True, "no": False}
    status = None if filters["status"] is None else int(filters["status"])
    with _store() as store:
        rows, total = store.search_orders(since_ts=_window_start(), exclude_statuses=settings.exclude_statuses,
                                          query=filters["q"], status=status,
                                          cod=yes_no.get(filters["cod"]), has_package=yes_no.get(filters["package"]),
                                          sort=filters["sort"], descending=filters["dir"] == "desc",
                                          page=page, per_page=PER_PAGE)
        badges = push_view.badges(settings, store, [row["order_id"] for row in rows]) \
            if settings.push_enabled else None
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)

    def orders_link(**changes) -> str:
        return link("dashboard.orders", **{**filters, "q": filters["q"] or None, **changes})

    return _render("orders.html", rows=rows, total=total, page=page, pages=pages, filters=filters, status=status,
                   descending=filters["dir"] == "desc", orders_link=orders_link, push_badges=badges)


@bp.route("/order")
@require_basic_auth
def order_by_query():
    code = query_values({"code": Exact(1000)})["code"]
    if code is None:
        abort(404)
    return _order_page(code)


@bp.route("/orders/<path:code>")  # older links; /order?code= carries any CODE
@require_basic_auth
def order(code: str):
    return _order_page(code)


def _order_page(code: str):
    from feedsvc.build import mapping_context
    from feedsvc.retino.mapping import MappingError, map_order
    from feedsvc.retino.render import order_xml

    settings = _settings()
    with _store() as store:
        stored = store.find_order_by_code(code)
        if stored is None:
            abort(404)
        findings = store.list_findings(stored.order_id)
        reason = store.quarantine_reason(stored.order_id)
        context = mapping_context(settings, store)
    mapped, error, fragment = None, None, ""
    if stored.raw_text:
        try:
            mapped = map_order(stored.raw, tracking=stored.tracking, summary=stored.summary, context=context)
            fragment = highlight_xml(order_xml(mapped.order).decode("utf-8"))
        except MappingError as exc:
            error = str(exc)
    with _store() as store:
        push = push_view.order_state(settings, store, stored, mapped, reason)
    raw = highlight_json(jsonutil.dumps(stored.raw, indent=2)) if stored.raw_text else ""
    tracking = highlight_json(jsonutil.dumps(stored.tracking, indent=2)) if stored.tracking_text else ""
    return _render("order.html", stored=stored, mapped=mapped, error=error, fragment=fragment, raw=raw,
                   tracking=tracking, findings=findings, reason=reason, push=push)


def _feed_orders(path, start: int, count: int) -> tuple[list[tuple[str, str]], int]:
    """(CODE, highlighted XML) for orders start..start+count of the snapshot, and the total seen."""
    shown, index = [], 0
    for _, element in etree.iterparse(str(path), events=("end",), tag="ORDER", resolve_entities=False,
                                      no_network=True):
        if start <= index < start + count:
            etree.indent(element, space="  ")
            shown.append((element.findtext("CODE") or "?",
                          highlight_xml(etree.tostring(element, encoding="unicode"))))
        index += 1
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]
    return shown, index


@bp.route("/feed-view")
@require_basic_auth
def feed_view():
    snapshot = current_snapshot(_settings().snapshots_dir)
    page = query_values({"page": PAGE})["page"]
    shown: list[tuple[str, str]] = []
    total = 0
    if snapshot is not None:
        shown, total = _feed_orders(snapshot.xml_path, (page - 1) * FEED_ORDERS_PER_PAGE, FEED_ORDERS_PER_PAGE)
    pages = max((total + FEED_ORDERS_PER_PAGE - 1) // FEED_ORDERS_PER_PAGE, 1)
    return _render("feed.html", snapshot=snapshot, shown=shown, total=total, page=page, pages=pages)


@bp.route("/quarantine")
@require_basic_auth
def quarantine():
    with _store() as store:
        entries = store.list_quarantine()
    return _render("quarantine.html", entries=entries)


@bp.route("/quarantine/raw")
@require_basic_auth
def quarantine_raw_by_query():
    order_id = query_values({"order_id": Exact(1000)})["order_id"]
    if order_id is None:
        abort(404)
    return _quarantined_raw(order_id)


@bp.route("/quarantine/<path:order_id>/raw")  # older links
@require_basic_auth
def quarantine_raw(order_id: str):
    return _quarantined_raw(order_id)


def _quarantined_raw(order_id: str):
    with _store() as store:
        stored = store.get_order(order_id)
    if stored is None or not stored.raw_text:
        abort(404)
    return Response(stored.raw_text, mimetype="text/plain")


@bp.route("/syncs")
@require_basic_auth
def syncs():
    with _store() as store:
        runs = store.list_sync_runs(100)
        push_runs = store.list_push_runs(100) if _settings().push_enabled else None
    return _render("syncs.html", runs=runs, push_runs=push_runs)


def _running_view(state: dict | None) -> dict | None:
    """The running sync or publish as the page shows it; None when none runs."""
    if state is None:
        return None
    started = state.get("started_at")
    return {"pid": state.get("pid"), "command": state.get("command") or "a sync or publish",
            "stage": state.get("stage") or "starting", "started_at": started,
            "started": _when(started) if started else "—"}


@bp.app_template_global("running_pipeline")
def running_pipeline() -> dict | None:
    """For the Sync-now button: the run holding the data dir's lock, or None."""
    return _running_view(pipeline_state(_settings()))


@bp.route("/sync", methods=["POST"])
@require_basic_auth
def sync_now():
    """Start one `feedsvc sync --publish`; while one runs (started from anywhere), start nothing and say which."""
    _check_csrf()
    settings = _settings()
    try:
        running, started = start_in_background(settings, origin="the dashboard"), True
    except PipelineBusy as busy:
        running, started = busy.holder, False
    except OSError as exc:
        current_app.logger.error("could not start the sync: %s", exc.strerror or exc)
        abort(503)
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify({"started": started, "running": _running_view(running)}), 202 if started else 409
    return Response(status=303, headers={"Location": url_for("dashboard.overview") + "#sync-h"})


@bp.route("/sync/status")
@require_basic_auth
def sync_status():
    settings = _settings()
    with _store() as store:
        run = store.last_sync_run()
    snapshot = current_snapshot(settings.snapshots_dir)
    return jsonify({"run": None if run is None else {"id": run.id, "status": run.status, "kind": run.kind,
                                                      "progress": run.progress, "requests": run.requests},
                    "running": running_pipeline(),
                    "etag": snapshot.etag if snapshot else None})
