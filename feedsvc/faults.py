"""Fault injection for tests only: a feedsvc process kills itself at a chosen point, so crash tests are exact.

A test starts a feedsvc command with `FEEDSVC_FAULT_KILL_AT=<point>:<k>` in
its environment; the process sends itself SIGKILL the k-th time it reaches
<point> (counted in that process). Without the variable, which is always the
case outside tests, `reached` returns at once and `watch_responses` adds
nothing. The points (POINTS) sit where a crash is worth proving harmless.
"""

from __future__ import annotations

import collections
import os
import signal

VARIABLE = "FEEDSVC_FAULT_KILL_AT"
POINTS = {
    "storeden-response": "an answer from Storeden arrived (its headers), before it is read or used",
    "list-page": "a page of list.json arrived, before its orders are stored",
    "details-saved": "a shipped order's details are stored, before its tracking is asked for",
    "tracking-response": "a tracking answer arrived, before it is stored",
    "fragments-saving": "a rendered fragment went to the store, inside the transaction that keeps the build",
    "feed-written": "the new snapshot's files are complete and in place, before CURRENT names it",
    "retino-answered": "Retino answered a push's batch of orders, before the outcomes are recorded",
    "shipment-sent": "Retino answered a shipment call, before the parcel is recorded as sent",
}
_reached: collections.Counter = collections.Counter()


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(VARIABLE, "")
    if not spec:
        return None
    point, _, count = spec.partition(":")
    if point not in POINTS or not count.isdigit() or int(count) < 1:
        raise RuntimeError(f"{VARIABLE}={spec!r}: expected <point>:<k>, k ≥ 1, a point among {', '.join(POINTS)}")
    return point, int(count)


def reached(point: str) -> None:
    """Count a visit to `point`; the k-th visit of the configured point kills this process."""
    target = _target()
    if target is None or target[0] != point:
        return
    _reached[point] += 1
    if _reached[point] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def watch_responses(http_client) -> None:
    """Count every response of an httpx client as the point `storeden-response` (only when a test asks)."""
    target = _target()
    if target is not None and target[0] == "storeden-response":
        http_client.event_hooks["response"].append(lambda _response: reached("storeden-response"))
