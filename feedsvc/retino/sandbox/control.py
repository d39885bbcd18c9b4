"""The Retino simulator's control API under `/_sandbox/`: faults, settings, what arrived, reset.

It takes the same token as the API, but no faults and no call log.
"""

from __future__ import annotations

import random
from dataclasses import asdict

from flask import Blueprint, Response, request

from feedsvc.retino.sandbox.orders import error_answer, json_answer, unauthorised_answer
from feedsvc.retino.sandbox.state import BULK_SHAPES, Faults, current_state, public

bp = Blueprint("retino_control", __name__, url_prefix="/_sandbox")


def _changes() -> dict:
    return request.get_json(silent=True, force=True) or {}


@bp.before_request
def authorise() -> Response | None:
    if not current_state().authorised(request.headers.get("Authorization", "")):
        return unauthorised_answer()
    return None


@bp.post("/faults")
def faults():
    changes = _changes()
    state = current_state()
    with state.lock:
        current = asdict(state.faults)
        unknown = set(changes) - set(current)
        if unknown:
            return error_answer(400, f"unknown fault settings: {', '.join(sorted(unknown))}")
        current.update(changes)
        state.faults = Faults(**current)
        state.rng = random.Random(state.faults.seed)
        return json_answer(asdict(state.faults))


@bp.post("/settings")
def settings():
    changes = _changes()
    state = current_state()
    with state.lock:
        if "bulk_shape" in changes:
            if changes["bulk_shape"] not in BULK_SHAPES:
                return error_answer(400, f"bulk_shape must be one of {', '.join(BULK_SHAPES)}")
            state.bulk_shape = changes["bulk_shape"]
        if "store_ids" in changes:
            state.store_ids = set(changes["store_ids"])
        for switch in ("items_must_add_up", "shipments_endpoint"):
            if switch in changes:
                setattr(state, switch, bool(changes[switch]))
        return json_answer({"bulk_shape": state.bulk_shape, "store_ids": sorted(state.store_ids),
                            "items_must_add_up": state.items_must_add_up,
                            "shipments_endpoint": state.shipments_endpoint})


@bp.get("/orders")
def orders():
    state = current_state()
    with state.lock:
        return json_answer([{**public(o), "writes": o["_writes"]} for o in state.orders.values()])


@bp.get("/shipments")
def shipments():
    state = current_state()
    with state.lock:
        return json_answer(list(state.shipments))


@bp.get("/calls")
def calls():
    state = current_state()
    with state.lock:
        return json_answer(list(state.calls))


@bp.post("/reset")
def reset():
    current_state().reset()
    return json_answer({"ok": 1})
