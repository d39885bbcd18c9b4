"""Push mode: how many calls Retino's Orders API gets, and how soon a Storeden change reaches it.

Both simulators over real sockets, the real pipeline (sync → publish → push).
Calls are counted by the Retino simulator itself.

- A first push of about 1,000 orders: order calls against ⌈n/100⌉ (the bulk
  limit's lower bound) and against one call per order; shipment calls are
  one per package number (the endpoint takes one parcel).
- A steady hour: the worker's cycle every 60 s (push mode's default
  interval), in simulated time, while the shop changes 20 times at random
  moments (status moves and new orders). Retino calls are counted against
  one call per change; Storeden requests against the cycles.
- Latency from a Storeden change to Retino: the wait for the next cycle
  (simulated time) + the cycle's own run time (measured) + what the Storeden
  throttle would make the cycle's requests wait (its Throttle class on a
  simulated clock), at the demo's throttle (20/1) and at Storeden's (5/60).
"""

from __future__ import annotations

import math
import random
import statistics
import time

from bench.harness import BenchContext, Row
from feedsvc.config import load_settings
from feedsvc.pipeline import run_pipeline
from feedsvc.retino.sandbox import RetinoSandboxServer
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.storeden.throttle import Throttle

NAME = "push"
TOKEN, STORE = "bench-token", "main-shop"
CYCLE = 60  # push mode's default FEEDSVC_SYNC_INTERVAL
CHANGES = 20


class SimClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _settings(ctx, name, storeden, retino):
    return load_settings({"FEEDSVC_DATA_DIR": str(ctx.workdir / name), "FEEDSVC_STOREDEN_URL": storeden.url,
                          "FEEDSVC_STOREDEN_KEY": storeden.key, "FEEDSVC_STOREDEN_EXCHANGE": storeden.exchange,
                          "FEEDSVC_STOREDEN_RATE": "1000/1", "FEEDSVC_RETINO_URL": retino.url,
                          "FEEDSVC_RETINO_TOKEN": TOKEN, "FEEDSVC_RETINO_STORE_ID": STORE})


def _order_calls(calls) -> list[dict]:
    return [c for c in calls if c["path"].endswith(("/orders", "/orders/bulk")) and not c.get("injected")]


def _throttle_waits(cycles: list[tuple[float, int]], rate: tuple[int, float]) -> list[float]:
    """How long each cycle's requests would wait for Storeden's budget, on a simulated clock."""
    clock = SimClock(cycles[0][0])
    throttle = Throttle(*rate, clock=clock, sleep=clock.sleep)
    waits = []
    for at, requests in cycles:
        clock.now = max(clock.now, at)
        started = clock.now
        for _ in range(requests):
            throttle.acquire()
        waits.append(clock.now - started)
    return waits


def run(ctx: BenchContext) -> list[Row]:
    orders = 400 if ctx.quick else 1080  # about 7 % are archived or aborted: ~1,000 pushed
    start = time.time() - 3 * 3600  # the simulated hour lies in the past: details read now are never stale
    shop = Shop(seed=41, orders=orders, now=start, days=6)
    with SandboxServer(shop, rate=(1000, 1.0)) as storeden, \
            RetinoSandboxServer(token=TOKEN, store_ids=(STORE,)) as retino:
        settings = _settings(ctx, "push", storeden, retino)
        ctx.log(f"push: backfill and first push of a {orders}-order shop")
        first = run_pipeline(settings, progress=False, now=start)
        assert first.push_error is None, first.push_error
        pushed = first.push.confirmed
        calls = retino.control("calls")
        order_calls = len(_order_calls(calls))
        shipment_calls = len(calls) - order_calls
        bound = math.ceil(pushed / 100)
        with Store.open(settings) as store:
            parcels = sum(len(c.packages) for c in store.push_candidates(0, settings.exclude_statuses))
        rows = [
            Row(NAME, f"first push of {pushed:,} orders: order calls", str(order_calls), f"{bound} (⌈n/100⌉)",
                order_calls / bound, ratio_label="calls / lower bound", goal="1.0", met=order_calls <= bound),
            Row(NAME, f"first push of {pushed:,} orders vs one call each", str(order_calls), f"{pushed} (per order)",
                order_calls / pushed, ratio_label="calls / per-order calls"),
            Row(NAME, f"first push of {pushed:,} orders: shipment calls", str(shipment_calls),
                f"{parcels} (package numbers)", shipment_calls / parcels if parcels else None,
                ratio_label="calls / package numbers", goal="1.0", met=shipment_calls == parcels,
                note="POST /tracking-shipping takes one parcel; FEEDSVC_RETINO_SHIPMENTS=0 leaves them out"),
        ]

        ctx.log("push: a steady hour with 20 changes, one cycle a minute (simulated time)")
        rng = random.Random(42)
        change_times = sorted(start + rng.uniform(1, 3600 - CYCLE) for _ in range(CHANGES))
        pending = list(change_times)
        changed_at: dict[str, float] = {}  # short_id → when the shop changed it
        reached: dict[str, float] = {}  # short_id → simulated time the push sent it
        cycles: list[tuple[float, int]] = []
        idle = 0  # cycles that called Retino not at all
        durations: dict[float, float] = {}
        seen_calls = len(calls)
        storeden.reset_stats()
        for k in range(1, 3600 // CYCLE + 1):
            now = start + k * CYCLE
            while pending and pending[0] <= now:
                at = pending.pop(0)
                touched = shop.advance(new_orders=1 if rng.random() < 0.25 else 0, status_changes=1, now=at)
                for order_id in touched["created"] + touched["changed"]:
                    changed_at.setdefault(shop.orders[order_id].short_id, at)
            before = storeden.stats().get("requests", 0)
            began = time.monotonic()
            outcome = run_pipeline(settings, progress=False, now=now)
            durations[now] = time.monotonic() - began
            assert outcome.push_error is None, outcome.push_error
            cycles.append((now, storeden.stats().get("requests", 0) - before))
            new_calls = retino.control("calls")[seen_calls:]
            seen_calls += len(new_calls)
            idle += not new_calls
            for call in _order_calls(new_calls):
                for code in call.get("codes", []):
                    reached.setdefault(code, now)
        hour_calls = retino.control("calls")[len(calls):]
        hour_order_calls = len(_order_calls(hour_calls))
        hour_shipments = len(hour_calls) - hour_order_calls
        storeden_requests = sum(requests for _, requests in cycles)
        needed = [code for code in changed_at if code in reached]  # a move 3 → 4 changes nothing Retino has
        rows += [
            Row(NAME, f"steady hour, {CHANGES} changes: Retino calls", f"{len(hour_calls)} "
                f"({hour_order_calls} orders + {hour_shipments} shipments)",
                f"{CHANGES} (one per change)", len(hour_calls) / CHANGES, ratio_label="calls / changes",
                note=f"{len(changed_at)} orders changed, {len(needed)} of them in a way Retino sees; "
                     f"{idle} of {len(cycles)} cycles called Retino not at all"),
            Row(NAME, "steady hour: Storeden requests", str(storeden_requests),
                f"{len(cycles)} (one orders_filter a cycle)", storeden_requests / len(cycles),
                ratio_label="requests / cycles",
                note="1 orders_filter per minute + details/tracking of changed orders"),
        ]
        for label, rate, goal in (("the demo's throttle 20/1", (20, 1.0), True), ("Storeden's 5/60", (5, 60.0), False)):
            waits = dict(zip((at for at, _ in cycles), _throttle_waits(cycles, rate)))
            latencies = [reached[code] - changed_at[code] + durations[reached[code]] + waits[reached[code]]
                         for code in needed]
            mean, worst = statistics.mean(latencies), max(latencies)
            rows.append(Row(NAME, f"change → Retino at a {CYCLE} s interval, {label}: mean / max",
                            f"{mean:.0f} / {worst:.0f} s", f"{CYCLE} s (the interval)", worst / CYCLE,
                            ratio_label="max / interval", goal="≤ 1.1" if goal else "",
                            met=worst <= CYCLE * 1.1 if goal else None,
                            note=f"{len(latencies)} changes; wait for the next cycle + the cycle's run "
                                 f"(≤ {max(durations.values()):.1f} s) + throttle wait "
                                 f"(≤ {max(waits.values()):.0f} s: Storeden allows 5 requests in any 60 s, so "
                                 f"a cycle needing more than 5 waits a minute)" if not goal else
                                 f"{len(latencies)} changes; wait for the next cycle + the cycle's run "
                                 f"(≤ {max(durations.values()):.1f} s) + throttle wait ({max(waits.values()):.0f} s)"))
    return rows
