"""`/healthz`: is the published feed fresh enough for Retino's 6-hourly pull? JSON, never secrets."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from feedsvc.publish import current_snapshot
from feedsvc.store import Store

bp = Blueprint("health", __name__)


def _sync_and_publish_state(settings) -> tuple[dict | None, str | None]:
    try:
        with Store.open(settings) as store:
            run = store.last_sync_run()
            error = store.last_publish_error()
    except Exception:  # the store may be locked or missing; health must still answer
        return None, None
    if run is None:
        return None, error
    return {"status": run.status, "kind": run.kind, "started_at": run.started_at, "ended_at": run.ended_at,
            "requests": run.requests, "responses_429": run.responses_429,
            "orders_new": run.orders_new, "orders_changed": run.orders_changed}, error


@bp.route("/healthz", methods=["GET", "HEAD"])
def healthz():
    settings = current_app.config["FEEDSVC_SETTINGS"]
    now = time.time()
    snapshot = current_snapshot(settings.snapshots_dir)
    last_sync, publish_error = _sync_and_publish_state(settings)
    reasons = []
    body = {"last_sync": last_sync, "max_snapshot_age_seconds": settings.max_snapshot_age}
    if snapshot is None:
        status = "no_snapshot"
        reasons.append("no feed has been published yet")
    else:
        age = snapshot.age(now)
        body.update({"snapshot_age_seconds": round(age, 1), "orders": snapshot.meta.get("orders"),
                     "snapshot_created_at": snapshot.meta.get("created_at")})
        status = "ok"
        if age > settings.max_snapshot_age:
            status = "stale"
            reasons.append(f"the feed is {int(age)} s old, over the limit of {settings.max_snapshot_age} s")
    if publish_error:
        reasons.append(f"the last publish failed: {publish_error}")
        if status == "ok":
            status = "publish_failed"
    if last_sync and last_sync["status"] not in ("ok", "running"):
        reasons.append(f"the last sync ended {last_sync['status']}")
    body.update({"status": status, "reasons": reasons})
    response = jsonify(body)
    response.status_code = 200 if status == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response
