"""Benchmark: how soon a fresh install publishes its first orders, on simulated time at Storeden's throttle.

A generated shop (1,000 orders in the week; 200 with --quick) behind the
simulator over real sockets; the client keeps to 5 requests per 60 s on a
simulated clock that moves only when the throttle waits, and the pipeline's
publish cadence reads the same clock. The baseline is the end of the
backfill: when the first snapshot would have come without publishing as it
goes. Real time spent computing is left out of the simulated figures (the
builds take well under a second each; the row's note gives the real time).
"""

from __future__ import annotations

import itertools
import os
import time

from bench.harness import BenchContext, Row
from feedsvc.config import load_settings
from feedsvc.pipeline import run_pipeline
from feedsvc.storeden.client import StoredenClient
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from tests.helpers.clocks import FakeTime

NAME = "first publish"


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 3600:.1f} h" if seconds >= 7200 else \
        f"{seconds / 60:.0f} min"


def run(ctx: BenchContext) -> list[Row]:
    orders = 200 if ctx.quick else 1000
    shop = Shop(seed=23, orders=orders, now=time.time() - 60, days=7)
    data_dir = ctx.workdir / "first-publish"
    with SandboxServer(shop, rate=(1_000_000, 1.0)) as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
        env.update({"FEEDSVC_DATA_DIR": str(data_dir), "FEEDSVC_STOREDEN_URL": sandbox.url,
                    "FEEDSVC_STOREDEN_KEY": sandbox.key, "FEEDSVC_STOREDEN_EXCHANGE": sandbox.exchange,
                    "FEEDSVC_STOREDEN_RATE": "5/60", "FEEDSVC_FEED_TOKEN": "ab" * 32})
        settings = load_settings(env)
        clock = FakeTime()
        client = StoredenClient.from_settings(settings, clock=clock.time, sleep=clock.sleep)
        started = time.monotonic()
        outcome = run_pipeline(settings, client=client, clock=clock.time, progress=False)
        real = time.monotonic() - started
    publishes = outcome.progressive
    first_at, first = publishes[0] if publishes else (clock.now, outcome.build)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(publishes)] + ([clock.now - publishes[-1][0]] if publishes
                                                                    else [])
    note = (f"{orders:,}-order shop, 5 requests / 60 s, simulated time; {outcome.sync.requests:,} requests; "
            f"{len(publishes)} publishes while it ran, at most {_minutes(max(gaps, default=0))} apart, then "
            f"{outcome.build.orders:,} orders at the end; real time {real:.0f} s")
    return [
        Row(NAME, f"backfill of {orders:,} orders at 5/60: first snapshot with orders",
            f"{first_at:.0f} s ({first.orders} orders)", f"{clock.now:.0f} s (end of the backfill)",
            first_at / clock.now if clock.now else None, ratio_label="first snapshot / whole backfill",
            goal="≤ 180 s", met=first_at <= 180 and first.orders > 0, note=note),
    ]
