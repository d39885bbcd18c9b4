"""Data for the benchmarks: stores filled with simulated Storeden orders, and their published feeds.

Orders come from the simulator's Shop (the same generator the tests use) and
enter the store through its public methods, as a sync would put them there.
Each size is built once per run and reused by every benchmark that needs it.
"""

from __future__ import annotations

import time
from pathlib import Path

from feedsvc import jsonutil
from feedsvc.build import build_and_publish
from feedsvc.config import Settings, load_settings
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.shop import SHIPPED, Shop

TOKEN = "be" * 32


def settings_for(data_dir: Path, **extra) -> Settings:
    env = {"FEEDSVC_DATA_DIR": str(data_dir), "FEEDSVC_FEED_TOKEN": TOKEN, "FEEDSVC_FEED_USER": "retino",
           "FEEDSVC_FEED_PASSWORD": "bench-password-of-24-chars"}
    env.update({k: str(v) for k, v in extra.items()})
    return load_settings(env)


def fill_store(settings: Settings, orders: int, seed: int = 21) -> Shop:
    """A store holding `orders` simulated orders of the last 6 days, with their tracking."""
    shop = Shop(seed=seed, orders=orders, now=time.time() - 5, days=6)
    with Store.open(settings) as store, store.transaction():
        for order in shop.orders.values():
            summary = shop.summary(order, {"short_id"})
            store.upsert_summary(order.order_id, status=order.status, order_ts=order.ts,
                                 short_id=order.short_id, locale=order.locale, summary=summary)
            store.save_order_raw(order.order_id, jsonutil.dumps(order.order), status=order.status,
                                 order_ts=order.ts)
            if order.status in SHIPPED:
                store.save_tracking_raw(order.order_id, jsonutil.dumps(order.tracking) if order.tracking else None,
                                        status=order.status)
    return shop


def filled(ctx, orders: int) -> Settings:
    """Settings of a data dir whose store holds `orders` orders and a published snapshot (cached)."""
    data_dir = ctx.workdir / f"store-{orders}"
    settings = settings_for(data_dir)
    if current_snapshot(settings.snapshots_dir) is None:
        ctx.log(f"datasets: generating {orders:,} orders")
        fill_store(settings, orders)
        build_and_publish(settings)
    return settings


def published_feed(ctx, orders: int) -> Path:
    """The path of a published feed with about `orders` orders (statuses 6 and 7 are left out)."""
    return current_snapshot(filled(ctx, orders).snapshots_dir).xml_path
