"""The Retino simulator's Orders API v2 endpoints: upsert, bulk, status, partial update, shipments.

Every call passes `api_call`: the token (401), then an injected fault (before
or after the work is done), then the endpoint; an order the document's rules
refuse is a 400 with Retino-like wording; every call is logged.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Response, request

from feedsvc import jsonutil
from feedsvc.retino.api import BULK_LIMIT, DELIVERY_TYPES
from feedsvc.retino.push_payload import RETINO_STATUSES
from feedsvc.retino.sandbox.checks import Invalid, check_order, check_text, merge
from feedsvc.retino.sandbox.state import Faults, current_state, public

bp = Blueprint("retino_orders", __name__)


def json_answer(value: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(jsonutil.dumps(value), status=status, mimetype="application/json", headers=headers or {})


def error_answer(status: int, message: str, headers: dict | None = None) -> Response:
    return json_answer({"error": message}, status, headers)


def unauthorised_answer() -> Response:
    return json_answer({"detail": "Invalid or missing API token"}, 401)


def _fault_answer(fault: Faults) -> Response:
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None and \
        (fault.status == 429 or fault.status == 503) else {}
    return error_answer(fault.status,
                        "Too many requests" if fault.status == 429 else "Service temporarily unavailable", headers)


def _body() -> Any:
    if not request.data:
        raise Invalid("the request has no JSON body")
    try:
        return jsonutil.loads(request.get_data(as_text=True))
    except ValueError:
        raise Invalid("the request body is not JSON") from None


def api_call(view):
    """Auth, then injected faults, then the view; every call logged."""
    @wraps(view)
    def wrapped(**kwargs):
        state = current_state()

        def log_call(status: int, **extra) -> None:
            state.log_call(request.method, request.path, status, **extra)

        if not state.authorised(request.headers.get("Authorization", "")):
            log_call(401)
            return unauthorised_answer()
        fault = state.draw_fault()
        if fault is not None and not fault.after:
            log_call(fault.status, injected=True)
            return _fault_answer(fault)
        try:
            response = view(**kwargs)
        except Invalid as exc:
            response = error_answer(400, str(exc))
        if fault is not None:
            log_call(fault.status, injected=True, done=response.status_code)
            return _fault_answer(fault)
        log_call(response.status_code, **request.environ.get("sandbox.log", {}))
        return response
    return wrapped


@bp.post("/orders")
@api_call
def upsert():
    order = _body()
    status, stored = current_state().upsert(order)
    request.environ["sandbox.log"] = {"codes": [order["code"]]}
    return json_answer(public(stored), status)


@bp.post("/orders/bulk")
@api_call
def bulk():
    orders = _body()
    if not isinstance(orders, list):
        raise Invalid("the bulk body must be a JSON array of orders")
    if len(orders) > BULK_LIMIT:
        raise Invalid(f"A bulk request takes at most {BULK_LIMIT} orders, got {len(orders)}")
    state = current_state()
    results: list[dict[str, Any]] = []
    for index, order in enumerate(orders):
        code = order.get("code") if isinstance(order, dict) else None
        try:
            status, stored = state.upsert(order)
        except Invalid as exc:
            results.append({"index": index, "code": code, "status": "failed", "errors": [str(exc)]})
        else:
            results.append({"code": code, "id": stored["id"], "status": "created" if status == 201 else "updated"})
    request.environ["sandbox.log"] = {"codes": [r["code"] for r in results]}
    if state.bulk_shape == "results":
        return json_answer({"results": results})
    if state.bulk_shape == "silent":
        return json_answer({"message": "Orders processed"})
    split: dict[str, list] = {"created": [], "updated": [], "failed": []}
    for result in results:
        entry = {k: v for k, v in result.items() if k != "status"}
        split[result["status"]].append(entry)
    return json_answer(split)


@bp.patch("/orders/<order_id>/status")
@api_call
def set_status(order_id):
    value = request.args.get("status_value", "")
    if value not in RETINO_STATUSES:
        raise Invalid(f"Unknown status value {value!r}; expected one of {', '.join(RETINO_STATUSES)}")
    state = current_state()
    with state.lock:
        stored = state.find(order_id)
        if stored is None:
            return error_answer(404, f"Order {order_id} not found")
        entry = {"name": value, "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        stored["statuses"] = [*stored.get("statuses", []), entry]
        stored["_updated"] = time.time()
        return json_answer(public(stored))


@bp.patch("/orders/<order_id>")
@api_call
def patch(order_id):
    changes = _body()
    if not isinstance(changes, dict) or not changes:
        raise Invalid("a partial update must be a non-empty JSON object")
    state = current_state()
    with state.lock:
        stored = state.find(order_id)
        if stored is None:
            return error_answer(404, f"Order {order_id} not found")
        for key in ("store_id", "code", "id"):
            if key in changes and changes[key] != stored.get(key):
                raise Invalid(f"{key} cannot be changed after an order is created")
        check_order(changes, partial=True)
        merged = merge(stored, changes)
        check_order(public(merged))
        merged["_updated"] = time.time()
        merged["_writes"] = stored["_writes"] + 1
        state.orders[(stored["store_id"], stored["code"])] = merged
        return json_answer(public(merged))


@bp.post("/tracking-shipping")
@api_call
def shipment():
    if not current_state().shipments_endpoint:
        return json_answer({"detail": "Not Found"}, 404)
    data = _body()
    if not isinstance(data, dict):
        raise Invalid("a shipment must be a JSON object")
    check_text(data.get("order"), "order", required=True)
    check_text(data.get("tracking_number"), "tracking_number", required=True)
    check_text(data.get("carrier_hint"), "carrier_hint")
    if data.get("delivery_type", "TO_ADDRESS") not in DELIVERY_TYPES:
        raise Invalid(f"delivery_type must be one of {', '.join(DELIVERY_TYPES)}")
    state = current_state()
    with state.lock:
        if state.find(data["order"]) is None:
            return error_answer(404, f"Order {data['order']} not found")
        record = {**data, "id": str(uuid.uuid4())}
        state.shipments.append(record)
    return json_answer(record, 201)
