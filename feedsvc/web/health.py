"""`/healthz`: is the published feed fresh enough for Retino's 6-hourly pull? JSON, never secrets.

Anyone may ask, and gets only the status and three ages:
`{"status": "ok"|"stale"|"no_snapshot"|"publish_failed"|"not_fetched", "snapshot_age_seconds": …,
"last_sync_age_seconds": …, "last_fetch_age_seconds": …}`. The last is the age of the
last successful download of the feed (the delivery log), null when it has never
been downloaded: a fresh install is healthy until someone fetched it once, and
"not_fetched" (503) means nothing has for over FEEDSVC_MAX_FETCH_AGE seconds. With the feed's Basic-auth credentials, or
`Authorization: Bearer <feed token>`, the answer adds the details: order
count, the last sync's figures, the reasons (a failed publish's message may
name the data directory). Wrong credentials get 401 and count as failures,
so the page is no way around the failure limiter. 200 when the status is
"ok", 503 otherwise.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from feedsvc.delivery import DeliveryLog
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.web.auth import (
    TOKEN_USER,
    basic_credentials,
    bearer_token,
    check_token,
    credentials_match,
    refuse_guess,
    unauthorized,
)

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


def _last_fetch_age(settings, now: float) -> float | None:
    """Seconds since the feed was last downloaded with a 200 or 304; None when never (or unreadable)."""
    try:
        with DeliveryLog(settings.delivery_log_path) as deliveries:
            last = deliveries.last_success()
    except Exception:
        return None
    return None if last is None else max(0.0, now - last.at)


def _wrong_credentials(settings):
    """None when the request carries the feed's Basic credentials or its token as a Bearer; else the refusal."""
    token = bearer_token()
    if token is not None:
        return None if check_token(token, settings) else refuse_guess(TOKEN_USER, unauthorized())
    given = basic_credentials()
    return None if credentials_match(given, settings) else refuse_guess(given[0] if given else "", unauthorized())


@bp.route("/healthz", methods=["GET", "HEAD"])
def healthz():
    settings = current_app.config["FEEDSVC_SETTINGS"]
    details = "Authorization" in request.headers
    if details and (refusal := _wrong_credentials(settings)) is not None:
        return refusal
    now = time.time()
    snapshot = current_snapshot(settings.snapshots_dir)
    last_sync, publish_error = _sync_and_publish_state(settings)
    reasons = []
    body = {"last_sync": last_sync, "max_snapshot_age_seconds": settings.max_snapshot_age}
    snapshot_age = None
    if snapshot is None:
        status = "no_snapshot"
        reasons.append("no feed has been published yet")
    else:
        snapshot_age = round(snapshot.age(now), 1)
        body.update({"orders": snapshot.meta.get("orders"), "snapshot_created_at": snapshot.meta.get("created_at")})
        status = "ok"
        if snapshot_age > settings.max_snapshot_age:
            status = "stale"
            reasons.append(f"the feed is {int(snapshot_age)} s old, over the limit of {settings.max_snapshot_age} s")
    if publish_error:
        reasons.append(f"the last publish failed: {publish_error}")
        if status == "ok":
            status = "publish_failed"
    if last_sync and last_sync["status"] not in ("ok", "running"):
        reasons.append(f"the last sync ended {last_sync['status']}")
    fetch_age = _last_fetch_age(settings, now)
    if fetch_age is not None and fetch_age > settings.max_fetch_age:
        reasons.append(f"nothing has downloaded the feed for {int(fetch_age)} s, over the limit of "
                       f"{settings.max_fetch_age} s")
        if status == "ok":
            status = "not_fetched"
    body["max_fetch_age_seconds"] = settings.max_fetch_age
    ended = last_sync and (last_sync["ended_at"] or last_sync["started_at"])
    public = {"status": status, "snapshot_age_seconds": snapshot_age,
              "last_sync_age_seconds": round(now - ended, 1) if ended else None,
              "last_fetch_age_seconds": None if fetch_age is None else round(fetch_age, 1)}
    response = jsonify({**body, **public, "reasons": reasons} if details else public)
    response.status_code = 200 if status == "ok" else 503
    response.headers["Cache-Control"] = "no-store"
    return response
