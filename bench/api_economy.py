"""Benchmarks 1 and 2: how many Storeden requests a sync spends, and how much of its budget it uses.

Requests are counted by the simulator itself. The lower bound is what any
client must send: the list pages (the last one empty), one detail per order
that goes in the feed, one tracking call per shipped order (tracking.json is
the only place a parcel number lives) and the three reference calls. The
naive client fetches details and tracking for every order on every sync.
"""

from __future__ import annotations

import math
import time

from bench.harness import BenchContext, Row
from feedsvc.config import load_settings
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import SHIPPED, Shop
from feedsvc.sync import run_sync

NAME = "api"
PAGE = 100
REFERENCE_CALLS = 3


def _settings(ctx, sandbox, name, rate):
    return load_settings({"FEEDSVC_DATA_DIR": str(ctx.workdir / name), "FEEDSVC_STOREDEN_URL": sandbox.url,
                          "FEEDSVC_STOREDEN_KEY": sandbox.key, "FEEDSVC_STOREDEN_EXCHANGE": sandbox.exchange,
                          "FEEDSVC_STOREDEN_RATE": f"{rate[0]}/{rate[1]:g}"})


def economy(ctx: BenchContext, orders: int) -> list[Row]:
    rate = (1000, 1.0)
    shop = Shop(seed=31, orders=orders, now=time.time() - 5, days=6)
    with SandboxServer(shop, rate=rate) as sandbox:
        settings = _settings(ctx, sandbox, f"api-{orders}", rate)
        backfill = run_sync(settings, progress=False)
        stats = sandbox.stats()
        in_feed = [o for o in shop.orders.values() if o.status not in (6, 7)]
        shipped = sum(1 for o in in_feed if o.status in SHIPPED)
        bound = math.ceil(len(shop.orders) / PAGE) + 1 + len(in_feed) + shipped + REFERENCE_CALLS
        naive = math.ceil(len(shop.orders) / PAGE) + 1 + 2 * len(shop.orders)
        rows = [Row(NAME, f"backfill of {orders:,} orders: requests", str(stats["requests"]), f"{bound} (lower bound)",
                    stats["requests"] / bound, ratio_label="sent / lower bound", goal="1.0",
                    met=stats["requests"] <= bound),
                Row(NAME, f"backfill of {orders:,} orders vs naive", str(stats["requests"]), f"{naive} (naive client)",
                    stats["requests"] / naive, ratio_label="sent / naive"),
                Row(NAME, f"backfill of {orders:,} orders: 429s", str(backfill.responses_429), "0", None,
                    goal="0", met=backfill.responses_429 == 0)]
        if orders == 200:
            touched = shop.advance(new_orders=4, status_changes=4, new_tracking=2)
            sandbox.reset_stats()
            incremental = run_sync(settings, progress=False)
            sent = sandbox.stats().get("requests", 0)
            ids = set(touched["created"] + touched["changed"] + touched["tracked"])
            k = len(ids)
            shipped_k = sum(1 for i in ids if shop.orders[i].status in SHIPPED)
            bound = 1 + k + shipped_k
            rows.append(Row(NAME, f"incremental after k={k} changes: requests", str(sent), f"{bound} (1 + k + shipped)",
                            sent / bound, ratio_label="sent / lower bound", goal="1.0", met=sent <= bound))
            rows.append(Row(NAME, f"incremental after k={k} changes vs naive", str(sent), f"{naive} (naive client)",
                            sent / naive, ratio_label="sent / naive"))
            rows.append(Row(NAME, "incremental: 429s", str(incremental.responses_429), "0", None, goal="0",
                            met=incremental.responses_429 == 0))
    return rows


def utilisation(ctx: BenchContext) -> list[Row]:
    rate = (5, 2.0)
    orders = 30 if ctx.quick else 60
    shop = Shop(seed=32, orders=orders, now=time.time() - 5, days=6)
    with SandboxServer(shop, rate=rate) as sandbox:
        settings = _settings(ctx, sandbox, "throttle", rate)
        started = time.monotonic()
        result = run_sync(settings, progress=False)
        elapsed = time.monotonic() - started
    achieved = result.requests / elapsed
    budget = rate[0] / rate[1]
    # n requests under a sliding window need at least (n - N) / N windows after the first burst
    share = achieved / budget
    return [Row("throttle", f"backfill at 5 requests / 2 s ({result.requests} requests, {elapsed:.1f} s)",
                f"{achieved:.3f} req/s", f"{budget:.3f} req/s (budget)", share, ratio_label="achieved / budget",
                goal="≥ 0.95", met=share >= 0.95,
                note=f"{result.responses_429} answers 429; the first {rate[0]} requests go out at once, "
                     "so short runs can exceed the steady-state rate")]


def run(ctx: BenchContext) -> list[Row]:
    rows = []
    for orders in ((200,) if ctx.quick else (200, 2_000)):
        ctx.log(f"api: backfill of {orders:,} orders")
        rows += economy(ctx, orders)
    ctx.log("api: throttle utilisation at 5/2 s")
    rows += utilisation(ctx)
    return rows
