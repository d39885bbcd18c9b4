"""The simulator's control API under `/_sandbox/` (tests and the demo): move the shop, inject faults, read counters.

It takes the same `key`/`exchange` headers as the API, but no throttle and no faults.
"""

from __future__ import annotations

from dataclasses import asdict, fields

from flask import Blueprint, Response, request

from feedsvc.storeden.sandbox.api import error_answer, json_answer
from feedsvc.storeden.sandbox.state import Faults, current_state
from feedsvc.storeden.vocabulary import STOREDEN_RATE, Rate

bp = Blueprint("storeden_control", __name__, url_prefix="/_sandbox")
_FAULT_SETTINGS = {f.name for f in fields(Faults)}
_ADVANCE_OPTIONS = ("new_orders", "status_changes", "new_tracking", "now")


def _body() -> dict:
    return request.get_json(silent=True) or {}


@bp.before_request
def authorise() -> Response | None:
    if not current_state().authorised(request.headers.get("key", ""), request.headers.get("exchange", "")):
        return error_answer(401, "Invalid key or exchange")
    return None


@bp.post("/advance")
def advance():
    body = _body()
    return json_answer(current_state().shop.advance(**{k: body[k] for k in _ADVANCE_OPTIONS if k in body}))


@bp.post("/faults")
def faults():
    changes = {k: v for k, v in _body().items() if k in _FAULT_SETTINGS}
    return json_answer(asdict(current_state().set_faults(**changes)))


@bp.post("/corrupt")
def corrupt():
    body = _body()
    try:
        current_state().shop.corrupt(body.get("orderID", ""), body.get("kind", ""))
    except (KeyError, ValueError) as exc:
        return error_answer(400, str(exc))
    return json_answer({"ok": 1})


@bp.post("/rate")
def set_rate():
    body = _body()
    state = current_state()
    state.set_rate(Rate(int(body.get("requests", STOREDEN_RATE.requests)),
                        float(body.get("seconds", STOREDEN_RATE.seconds))))
    return json_answer({"requests": state.window.requests, "seconds": state.window.seconds})


@bp.get("/stats")
def stats():
    return json_answer(dict(current_state().stats))


@bp.post("/stats/reset")
def reset_stats():
    current_state().stats.clear()
    return json_answer({"ok": 1})
