"""The simulator's Orders API v1.1 read endpoints, behind the gate a real request passes.

The gate, in the order the real service applies it: the `key`/`exchange`
headers (401), injected faults (latency, 429 storms), the throttle (429 with
`X-Storeden-Limit: 0/<quota>`), then time-outs (504) and errors (500). Every
answer the throttle let through carries `X-Storeden-Limit: <left>/<quota>`.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from feedsvc import jsonutil
from feedsvc.storeden.sandbox.state import current_state
from feedsvc.storeden.shop import CHECKOUT_METHODS, COUNTRY_NAMES, COUNTRY_UIDS, COURIERS, STATUSES, iso_with_offset
from feedsvc.storeden.vocabulary import limit_header

PREFIX = "/v1.1"
LIMIT_HEADER = "X-Storeden-Limit"

bp = Blueprint("storeden_api", __name__)


def json_answer(value, status: int = 200, headers: dict | None = None) -> Response:
    return Response(jsonutil.dumps(value), status=status, mimetype="application/json", headers=headers or {})


def error_answer(status: int, message: str, headers: dict | None = None) -> Response:
    return json_answer({"error": {"message": message}}, status, headers)


def _int_arg(name: str, default: int | None = None) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return None


def _nodes() -> set[str]:
    return {n.strip() for n in request.args.get("nodes", "").split(",") if n.strip()}


@bp.before_request
def gate() -> Response | None:
    """Auth, faults and the throttle; None lets the request through to its endpoint."""
    state = current_state()
    state.wait_while_held()  # tests hold the shop still while they look at a sync in flight
    if not state.authorised(request.headers.get("key", ""), request.headers.get("exchange", "")):
        state.stats["401"] += 1
        return error_answer(401, "Invalid key or exchange")
    faults = state.faults
    roll_storm, roll_error, roll_timeout = state.roll()
    if faults.latency:
        time.sleep(faults.latency)
    window = state.window
    quota = window.requests
    if roll_storm < faults.throttle_storm_rate:
        state.stats["429_storm"] += 1
        return error_answer(429, "Too Much Requests", {LIMIT_HEADER: limit_header(0, quota)})
    allowed, left = window.take()
    if not allowed:
        state.stats["429"] += 1
        headers = {LIMIT_HEADER: limit_header(0, quota)}
        if state.retry_after:
            headers["Retry-After"] = str(max(1, int(window.seconds)))
        return error_answer(429, "Too Much Requests", headers)
    endpoint = request.url_rule.rule.removeprefix(PREFIX) if request.url_rule else request.path
    state.stats[endpoint] += 1
    state.stats["requests"] += 1
    request.environ["sandbox.left"] = limit_header(left, quota)
    if roll_timeout < faults.timeout_rate:
        time.sleep(max(faults.latency, 2.0))
        state.stats["timeouts"] += 1
        return error_answer(504, "Gateway Timeout")
    if roll_error < faults.error_rate:
        state.stats["500"] += 1
        return error_answer(500, "Internal Server Error")
    return None


@bp.after_request
def add_limit_header(response: Response) -> Response:
    left = request.environ.get("sandbox.left")
    if left and LIMIT_HEADER not in response.headers:
        response.headers[LIMIT_HEADER] = left
    return response


def _find(order_id: str | None):
    return current_state().shop.orders.get(order_id or "")


@bp.get("/orders/list.json")
def list_orders():
    limit, skip = _int_arg("limit", 10), _int_arg("skip", 0)
    since, start, end = _int_arg("since"), _int_arg("from"), _int_arg("to")
    status = _int_arg("status")
    if limit is None or skip is None or limit < 1 or skip < 0:
        return error_answer(400, "limit and skip must be whole numbers")
    if (start is None) != (end is None):
        return error_answer(400, "from and to must be used together")
    wanted = set(request.args.getlist("orderID[]"))
    shop = current_state().shop
    orders = shop.by_date()
    if since is not None:
        orders = [o for o in orders if o.ts > since]
    if start is not None and end is not None:  # both or neither (checked above)
        orders = [o for o in orders if start < o.ts < end]
    if status is not None:
        orders = [o for o in orders if o.status == status]
    if wanted:
        orders = [o for o in orders if o.order_id in wanted]
    chosen = _nodes()
    return json_answer([shop.summary(o, chosen) for o in orders[skip:skip + min(limit, 500)]])


@bp.get("/orders/orders_filter.json")
def orders_filter():
    start = _int_arg("updated_from")
    if start is None:
        return error_answer(400, "updated_from is required")
    end = _int_arg("updated_to") or int(time.time()) + 1
    shop = current_state().shop
    changed = shop.changed_between(start, end)
    return json_answer({"count": len(changed),
                        "filter": {"updated_from": iso_with_offset(start, colon=True),
                                   "updated_to": iso_with_offset(end, colon=True)},
                        "orders": [shop.summary(o, _nodes(), with_events=True) for o in changed]})


@bp.get("/orders/order.json")
def order_detail():
    order = _find(request.args.get("orderID"))
    return json_answer(order.order) if order else error_answer(404, "Order not found")


@bp.get("/orders/legacy_order.json")
def legacy_order():
    order = _find(request.args.get("orderID"))
    return json_answer(current_state().shop.legacy(order)) if order else error_answer(404, "Order not found")


@bp.get("/orders/tracking.json")
def tracking():
    order = _find(request.args.get("orderID"))
    if order is None:
        return error_answer(404, "Order not found")
    return json_answer(order.tracking) if order.tracking else error_answer(404, "No tracking for this order")


@bp.get("/orders/timeline.json")
def timeline():
    order = _find(request.args.get("orderID"))
    if order is None:
        return error_answer(404, "Order not found")
    return json_answer([{"status": order.status, "ip": "127.0.0.1", "ts": e.ts,
                         "iso_date": iso_with_offset(e.ts, colon=True)} for e in order.events])


@bp.get("/orders/checkoutMethods.json")
def checkout_methods():
    return json_answer(CHECKOUT_METHODS)


@bp.get("/orders/statuses.json")
def statuses():
    return json_answer(STATUSES)


@bp.get("/orders/couriers.json")
def couriers():
    return json_answer(COURIERS)


@bp.get("/countries/list.json")
def countries():
    return json_answer([{"uid": uid, "iso_code": iso, "name": COUNTRY_NAMES[iso]}
                        for uid, iso in COUNTRY_UIDS.items()])
