"""Data put in place for a test: the two-order fixture feed published as a snapshot, and a store filled
with a simulated shop's orders the way a sync would have left it (without asking Storeden), and which of a
shop's orders a feed should hold."""

from __future__ import annotations

import time
from pathlib import Path

from feedsvc import jsonutil
from feedsvc.config import Settings
from feedsvc.publish import Snapshot, SnapshotWriter
from feedsvc.store import Store
from feedsvc.storeden.shop import SHIPPED, Shop

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FEED = (FIXTURES / "retino" / "two_orders.xml").read_bytes()


def publish_feed(data_dir: Path, body: bytes = FEED, created_ts: float | None = None) -> Snapshot:
    """Publish `body` as the current snapshot of `data_dir`, as `feedsvc render` would."""
    with SnapshotWriter(Path(data_dir) / "snapshots") as writer:
        writer.xml_path.write_bytes(body)
        return writer.commit({"orders": body.count(b"<ORDER>")}, created_ts=created_ts)


def fill_store(settings: Settings, shop: Shop) -> Shop:
    """Every order of `shop` in the store of `settings`, with its details and, once shipped, its tracking."""
    with Store.open(settings) as store, store.transaction():
        for order in shop.orders.values():
            store.upsert_summary(order.order_id, status=order.status, order_ts=order.ts, short_id=order.short_id,
                                 locale=order.locale, summary=shop.summary(order, {"short_id"}))
            store.save_order_raw(order.order_id, jsonutil.dumps(order.order), status=order.status,
                                 order_ts=order.ts)
            if order.status in SHIPPED:
                store.save_tracking_raw(order.order_id, jsonutil.dumps(order.tracking) if order.tracking else None,
                                        status=order.status)
    return shop


def window_codes(shop: Shop, days: int = 7) -> set[str]:
    """The CODEs of the shop's orders that belong in a feed of the last `days` days (not archived or aborted)."""
    start = time.time() - days * 86400
    return {o.short_id for o in shop.orders.values() if o.ts >= start and o.status not in (6, 7)}
