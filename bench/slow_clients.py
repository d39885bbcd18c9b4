"""Benchmark: the feed and /healthz while 1,000 slow or idle connections are held against the default set-up.

feedsvc runs as `make run` and the Procfile run it: gunicorn with
gunicorn.conf.py over TLS, default workers and deadlines. A separate process
(bench.slow_attacker) opens 1,000 connections that stall (a 3-byte ClientHello,
nothing at all, half a request line after the handshake) and opens a new one
whenever the server closes one. The same probes run twice, alternating rounds
without and with the attack: /healthz on a fresh TLS connection each time
(as a monitor asks), and feed downloads from 4 keep-alive clients. Figures:
the share of probes answered and their p99, feed requests per second against
the no-attack baseline, how long the server let a stalled connection live
(the deadline is 10 s), and the workers' memory per held connection.
"""

from __future__ import annotations

import json
import os
import ssl
import statistics
import subprocess
import sys
import time

import httpx
import psutil

from bench import datasets
from bench.harness import PROJECT_ROOT, BenchContext, Row
from bench.loadgen import LoadResult, run_load
from bench.serving import _env
from feedsvc.config import default_value
from feedsvc.publish import current_snapshot
from feedsvc.tls import ensure_self_signed
from tests.helpers.servers import GunicornServer

NAME = "slow clients"
SLOW = 1_000
DEADLINE = default_value("header_timeout")  # FEEDSVC_HEADER_TIMEOUT's default
FEED_CLIENTS = 4


def _workers_rss(server: GunicornServer) -> int:
    master = psutil.Process(server.process.pid)
    return sum(child.memory_info().rss for child in master.children())


def _health_probes(server: GunicornServer, verify, count: int) -> tuple[int, list[float]]:
    """`count` GET /healthz, each on a new TLS connection; (answered 200, latencies of all in seconds)."""
    answered, latencies = 0, []
    for _ in range(count):
        began = time.perf_counter()
        try:
            with httpx.Client(verify=verify, timeout=10) as client:
                answered += client.get(f"{server.url}/healthz").status_code == 200
        except httpx.HTTPError:
            pass
        latencies.append(time.perf_counter() - began)
    return answered, latencies


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


class _Attack:
    """The attacker process: started, waited for until its connections are open, stopped, read."""

    def __init__(self, server: GunicornServer, cafile: str, seconds: float):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.slow_attacker", str(server.port), str(SLOW), cafile, str(seconds)],
            cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        self.ready = json.loads(self.process.stdout.readline())["ready"]

    def finish(self) -> dict:
        self.process.stdin.close()  # the attacker's signal to stop
        output = self.process.stdout.read()
        self.process.wait(timeout=120)
        return json.loads(output.strip().splitlines()[-1])


def run(ctx: BenchContext) -> list[Row]:
    orders = 1_000 if ctx.quick else 10_000
    settings = datasets.filled(ctx, orders)
    snapshot = current_snapshot(settings.snapshots_dir)
    cert = ensure_self_signed(ctx.workdir)
    verify = ssl.create_default_context(cafile=str(cert[0]))
    rounds, probes, feed_seconds = (2, 50, 4.0) if ctx.quick else (4, 100, 8.0)
    workers = default_value("workers")  # FEEDSVC_WORKERS's default
    env = {**_env(settings, snapshot), "FEEDSVC_ERROR_LOG": str(ctx.workdir / "slow-error.log")}
    (ctx.workdir / "slow").mkdir(exist_ok=True)
    health = {False: [0, []], True: [0, []]}
    feed: dict[bool, LoadResult] = {}
    held, lifetimes, failures, rss = [], [], 0, {}
    with GunicornServer(env, tls=cert, workers=workers, log_dir=ctx.workdir / "slow") as server:
        for number in range(rounds):
            for attacked in ((False, True) if number % 2 == 0 else (True, False)):
                ctx.log(f"slow clients: round {number + 1}/{rounds}, "
                        f"{'with ' + format(SLOW, ',') + ' slow connections' if attacked else 'no attack'}")
                attack = _Attack(server, str(cert[0]), seconds=600) if attacked else None
                began = time.monotonic()
                _health_probes(server, verify, 3)  # warm-up, not counted
                rss.setdefault(attacked, _workers_rss(server))
                answered, latencies = _health_probes(server, verify, probes)
                health[attacked][0] += answered
                health[attacked][1] += latencies
                measured = run_load(f"{server.url}/feed.xml", clients=FEED_CLIENTS, seconds=feed_seconds,
                                    verify=verify, headers={"Accept-Encoding": "gzip"},
                                    auth=(settings.feed_user, settings.feed_password))
                feed[attacked] = feed[attacked].add(measured) if attacked in feed else measured
                if attack is not None:
                    # let the first connections reach the deadline, so their lifetimes are seen
                    time.sleep(max(0.0, began + DEADLINE + 3 - time.monotonic()))
                    report = attack.finish()
                    held += report["samples"]
                    lifetimes += report["lifetimes"]
                    failures += report["failures"]
    total = probes * rounds
    quiet_ok, quiet_lat = health[False]
    loud_ok, loud_lat = health[True]
    quiet_feed, loud_feed = feed[False], feed[True]
    rows = [
        Row(NAME, f"{SLOW:,} slow connections held (min while probing)", f"{min(held) if held else 0:,}",
            f"{SLOW:,} opened", (min(held) / SLOW) if held else None, ratio_label="held / opened",
            note=f"kinds: 3-byte ClientHello, idle, half a request line after TLS; {failures} openings failed; "
                 f"{workers} workers, default settings"),
        Row(NAME, "/healthz answered while they are held", f"{loud_ok}/{total}", f"{quiet_ok}/{total} (no attack)",
            loud_ok / total, ratio_label="answered share", goal="≥ 0.99", met=loud_ok / total >= 0.99),
        Row(NAME, "/healthz p99 latency, new TLS connection each", f"{_p99(loud_lat) * 1000:.0f} ms",
            f"{_p99(quiet_lat) * 1000:.0f} ms (no attack)", _p99(loud_lat) / _p99(quiet_lat),
            ratio_label="p99 attacked / quiet", goal="< 2 s", met=_p99(loud_lat) < 2.0),
        Row(NAME, f"feed GET ({snapshot.gzip_size / 1e6:.1f} MB gzip), {FEED_CLIENTS} clients: requests/s",
            f"{loud_feed.rps:.1f}", f"{quiet_feed.rps:.1f} (no attack)",
            loud_feed.rps / quiet_feed.rps if quiet_feed.rps else None, ratio_label="attacked / quiet",
            note=f"errors {loud_feed.errors}/{quiet_feed.errors}; p99 {loud_feed.percentile(0.99) * 1000:.0f} / "
                 f"{quiet_feed.percentile(0.99) * 1000:.0f} ms"),
    ]
    if lifetimes:
        rows.append(Row(NAME, "a stalled connection lives (median / max)",
                        f"{statistics.median(lifetimes):.1f} / {max(lifetimes):.1f} s", f"{DEADLINE:.0f} s (deadline)",
                        max(lifetimes) / DEADLINE, ratio_label="max / deadline", goal="≤ 1.1",
                        met=max(lifetimes) <= DEADLINE * 1.1,
                        note=f"{len(lifetimes):,} connections closed by the server"))
    if True in rss and False in rss:
        per_connection = (rss[True] - rss[False]) / SLOW
        rows.append(Row(NAME, "workers' memory per held connection", f"{per_connection / 1024:.0f} KB",
                        f"{rss[False] / 1e6:.0f} MB (all workers, no attack)", None,
                        note="RSS of the workers with the connections open minus without, over 1,000"))
    return rows
