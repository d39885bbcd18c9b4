"""Benchmark: what the delivery log costs a feed request, feedsvc against itself with the log turned off.

Both servers are gunicorn over TLS with the project's gunicorn.conf.py and
the same data dir; the baseline is `bench.feed_without_log:app`. Two kinds
of request: a full gzip download of the 10,000-order feed, and the
revalidation Retino sends most (`If-None-Match`, answered 304), where the
log's one small SQLite transaction per request weighs most. Rounds alternate
between the servers so the shared machine's noise falls on both.
"""

from __future__ import annotations

import ssl
import sys

from bench import datasets
from bench.harness import PROJECT_ROOT, BenchContext, Row
from bench.loadgen import run_load
from bench.serving import _env
from feedsvc.delivery import DeliveryLog
from feedsvc.publish import current_snapshot
from feedsvc.tls import ensure_self_signed

sys.path.insert(0, str(PROJECT_ROOT))
from tests.helpers.servers import GunicornServer

NAME = "delivery log"
CLIENTS = 8
ROUNDS = 4


def run(ctx: BenchContext) -> list[Row]:
    settings = datasets.filled(ctx, 10_000)
    snapshot = current_snapshot(settings.snapshots_dir)
    cert = ensure_self_signed(ctx.workdir)
    verify = ssl.create_default_context(cafile=str(cert[0]))
    seconds = 6 if ctx.quick else 16
    env = _env(settings, snapshot)
    auth = (settings.feed_user, settings.feed_password)
    variants = (("gzip download (200)", {"Accept-Encoding": "gzip"}, 200),
                ("revalidation (304)", {"Accept-Encoding": "gzip", "If-None-Match": snapshot.gzip_etag}, 304))
    figures = {}
    for label in ("with", "without"):
        (ctx.workdir / f"log-{label}").mkdir(exist_ok=True)
    with GunicornServer(env, tls=cert, log_dir=ctx.workdir / "log-with") as with_log, \
            GunicornServer(env, tls=cert, app="bench.feed_without_log:app",
                           log_dir=ctx.workdir / "log-without") as without_log:
        servers = (("with", with_log), ("without", without_log))
        for variant, headers, status in variants:
            ctx.log(f"delivery log: {variant}, {ROUNDS} alternating rounds of {seconds / ROUNDS:.0f}s per server")
            for round_number in range(ROUNDS):
                for label, server in servers if round_number % 2 == 0 else servers[::-1]:
                    measured = run_load(f"{server.url}/feed.xml", clients=CLIENTS, seconds=seconds / ROUNDS,
                                        verify=verify, headers=headers, auth=auth, expect_status=status)
                    key = (label, variant)
                    figures[key] = figures[key].add(measured) if key in figures else measured
    with DeliveryLog(settings.delivery_log_path) as log:
        rows_kept = log.rows()
    rows = []
    for variant, _, _ in variants:
        ours, base = figures[("with", variant)], figures[("without", variant)]
        share = ours.rps / base.rps if base.rps else None
        rows.append(Row(NAME, f"10k-order feed, {variant}: requests/s", f"{ours.rps:.1f}",
                        f"{base.rps:.1f} (log off)", share, ratio_label="with log / without", goal="≥ 0.9",
                        met=share is not None and share >= 0.9,
                        note=f"{CLIENTS} clients, {seconds}s per server in {ROUNDS} alternating rounds, TLS; "
                             f"errors {ours.errors}/{base.errors}; p99 {ours.percentile(0.99) * 1000:.0f} / "
                             f"{base.percentile(0.99) * 1000:.0f} ms; {rows_kept:,} rows in the log at the end"))
    return rows
