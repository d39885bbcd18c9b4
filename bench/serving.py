"""Benchmark 4: feed requests per second and latency through gunicorn over TLS, against constant bytes.

Both servers are gunicorn with the project's gunicorn.conf.py (TLS, same
workers); the baseline app answers every request with the same bytes from
memory. Load: 8 keep-alive clients on 127.0.0.1 for a fixed time, split into
rounds that alternate between the two servers (A B, B A, A B ...), so a burst
of noise from the shared machine falls on both sides rather than on one.
"""

from __future__ import annotations

import ssl
import sys

from bench import datasets
from bench.harness import PROJECT_ROOT, BenchContext, Row
from bench.loadgen import run_load
from feedsvc.publish import current_snapshot
from feedsvc.tls import ensure_self_signed

sys.path.insert(0, str(PROJECT_ROOT))
from tests.helpers.servers import GunicornServer

NAME = "serving"
CLIENTS = 8
ROUNDS = 4
VARIANTS = (("plain", {"Accept-Encoding": "identity"}), ("gzip", {"Accept-Encoding": "gzip"}))


def _env(settings, snapshot):
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    env.update({"FEEDSVC_DATA_DIR": str(settings.data_dir), "FEEDSVC_FEED_TOKEN": settings.feed_token,
                "FEEDSVC_FEED_USER": settings.feed_user, "FEEDSVC_FEED_PASSWORD": settings.feed_password,
                "FEEDSVC_ACCESS_LOG": "/dev/null", "BENCH_CONSTANT_XML": str(snapshot.xml_path),
                "BENCH_CONSTANT_GZ": str(snapshot.gz_path), "PYTHONPATH": str(PROJECT_ROOT)})
    return env


def run(ctx: BenchContext) -> list[Row]:
    settings = datasets.filled(ctx, 10_000)
    snapshot = current_snapshot(settings.snapshots_dir)
    cert = ensure_self_signed(ctx.workdir)
    verify = ssl.create_default_context(cafile=str(cert[0]))
    seconds = 6 if ctx.quick else 16
    env = _env(settings, snapshot)
    figures = {}
    for label in ("feedsvc", "constant"):
        (ctx.workdir / label).mkdir(exist_ok=True)
    with GunicornServer(env, tls=cert, log_dir=ctx.workdir / "feedsvc") as feedsvc_server, \
            GunicornServer(env, tls=cert, app="bench.constant_app:app",
                           log_dir=ctx.workdir / "constant") as constant_server:
        servers = (("feedsvc", feedsvc_server), ("constant", constant_server))
        for variant, headers in VARIANTS:
            ctx.log(f"serving: {variant}, {ROUNDS} alternating rounds of {seconds / ROUNDS:.0f}s per server")
            for round_number in range(ROUNDS):
                for label, server in servers if round_number % 2 == 0 else servers[::-1]:
                    measured = run_load(f"{server.url}/feed.xml", clients=CLIENTS, seconds=seconds / ROUNDS,
                                        verify=verify, headers=headers,
                                        auth=(settings.feed_user, settings.feed_password))
                    key = (label, variant)
                    figures[key] = figures[key].add(measured) if key in figures else measured
    rows = []
    for variant in ("plain", "gzip"):
        ours, base = figures[("feedsvc", variant)], figures[("constant", variant)]
        share = ours.rps / base.rps if base.rps else None
        rows.append(Row(NAME, f"10k-order feed ({snapshot.size / 1e6:.0f} MB), {variant}: requests/s",
                        f"{ours.rps:.1f}", f"{base.rps:.1f} (constant bytes)", share,
                        ratio_label="feedsvc / constant", goal="≥ 0.8", met=share is not None and share >= 0.8,
                        note=f"{CLIENTS} clients, {seconds}s per server in {ROUNDS} alternating rounds, TLS; "
                             f"errors {ours.errors}/{base.errors}"))
        rows.append(Row(NAME, f"{variant}: p50 / p99 latency",
                        f"{ours.percentile(0.5) * 1000:.0f} / {ours.percentile(0.99) * 1000:.0f} ms",
                        f"{base.percentile(0.5) * 1000:.0f} / {base.percentile(0.99) * 1000:.0f} ms",
                        ours.percentile(0.99) / base.percentile(0.99), ratio_label="p99 feedsvc / constant"))
    return rows
