"""Benchmark 6: dashboard pages with a big store, through gunicorn, against /healthz on the same server.

`/orders` pages, searches, filters and sorts in SQL, so its time should not
grow with the store; the baseline is the cheapest authenticated-free page of
the same server, measured the same way (median of 15 requests).
"""

from __future__ import annotations

import statistics
import time

from bench import datasets
from bench.harness import BenchContext, Row
from bench.serving import _env
from feedsvc.publish import current_snapshot
from feedsvc.tls import ensure_self_signed
from tests.helpers.servers import GunicornServer

NAME = "dashboard"
REPEAT = 15


def _median_ms(client, path: str) -> float:
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(path)
        response.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(ctx: BenchContext) -> list[Row]:
    size = 10_000 if ctx.quick else 100_000
    settings = datasets.filled(ctx, size)
    snapshot = current_snapshot(settings.snapshots_dir)
    cert = ensure_self_signed(ctx.workdir)
    rows = []
    with GunicornServer(_env(settings, snapshot), tls=cert, log_dir=ctx.workdir) as server:
        with server.client(auth=(settings.feed_user, settings.feed_password)) as client:
            base = _median_ms(client, "/healthz")
            for label, path in (("first page", "/orders"), ("search by CODE", "/orders?q=10500"),
                                ("COD + has package, by total", "/orders?cod=yes&package=yes&sort=total"),
                                ("last page", "/orders?page=1000")):
                took = _median_ms(client, path)
                rows.append(Row(NAME, f"/orders {label}, {snapshot.meta['orders']:,} orders in the store",
                                f"{took:.0f} ms", f"{base:.0f} ms (/healthz)", took / base,
                                ratio_label="page / healthz"))
    return rows
