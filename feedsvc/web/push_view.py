"""The dashboard's view of push mode: the overview card, the orders list's badges, an order's state in Retino.

Everything is read from the store (what the last pushes recorded); the web
process never calls Retino. An order's page shows the JSON the push sends for
it, built from the same mapped order as the XML beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from feedsvc import jsonutil
from feedsvc.push import describe_left, order_payload
from feedsvc.retino.push_payload import NOT_PUSHED
from feedsvc.store import ObservedStatus, PushCounts, Store
from feedsvc.storeden.vocabulary import STATUS_NAMES
from feedsvc.web.highlight import highlight_json

OVERVIEW_LIST = 10


@dataclass
class PushOverview:
    enabled: bool
    url: str = ""
    store_id: str = ""
    counts: PushCounts | None = None
    rejected: list = field(default_factory=list)  # rows: code, error, error_at
    left: list[str] = field(default_factory=list)


def overview(settings, store: Store, now: float) -> PushOverview:
    if not settings.push_enabled:
        return PushOverview(enabled=False)
    since_ts = int(now - settings.days * 86400)
    return PushOverview(
        enabled=True, url=settings.retino_url, store_id=settings.retino_store_id,
        counts=store.push_counts(since_ts, settings.exclude_statuses, NOT_PUSHED),
        rejected=store.rejected_orders(since_ts, OVERVIEW_LIST),
        left=[describe_left(row) for row in store.orders_left_retino(OVERVIEW_LIST)])


def badges(settings, store: Store, order_ids) -> dict[str, tuple[str, str | None, float | None]]:
    """{order_id: (confirmed | pending | rejected, Retino's message, in Retino since)}; empty when push is off."""
    return store.push_badges(order_ids) if settings.push_enabled else {}


@dataclass
class OrderPush:
    enabled: bool
    state: str  # in_retino | rejected | pending | not_pushed
    reason: str = ""  # why not pushed
    row: object = None  # the push_state row
    shipments: list[str] = field(default_factory=list)
    json: str = ""  # highlighted


def order_state(settings, store: Store, stored, mapped, quarantine_reason: str | None) -> OrderPush:
    """What Retino has of this order, and the JSON the push sends for it."""
    row = store.push_state_of(stored.order_id)
    shipments = jsonutil.loads(row["shipments"]) if row is not None and row["shipments"] else []
    payload = ""
    if mapped is not None:
        history = store.status_history(stored.order_id) or \
            [ObservedStatus(stored.status, float(stored.order_ts or 0), "order_date")]
        sent = order_payload(settings, mapped.order, history, stored.order_ts)
        payload = highlight_json(json.dumps(sent, indent=2, ensure_ascii=False))  # in the order it is sent
    view = OrderPush(enabled=settings.push_enabled, state="pending", row=row, shipments=shipments, json=payload)
    if quarantine_reason or mapped is None:
        view.state, view.reason = "not_pushed", "quarantined: not in the feed, so not pushed"
    elif stored.status in NOT_PUSHED or stored.status in settings.exclude_statuses:
        view.state = "not_pushed"
        view.reason = f"{STATUS_NAMES.get(stored.status, stored.status)}: such orders are not pushed"
    elif row is not None and row["state"] == "rejected":
        view.state = "rejected"
    elif row is not None and row["state"] == "confirmed":
        view.state = "in_retino" if row["source_key"] == row["published_key"] else "pending"
    return view
