"""A bounded HTTP load generator: N threads, each with its own keep-alive client, for a fixed time.

Only ever pointed at 127.0.0.1. It stops at the deadline or after
`max_requests`, whichever comes first, and reports requests per second and
latency percentiles of the successful (expected-status) responses.

Bodies are read in full but not decoded: a gzip body is counted as the bytes
on the wire, so on a two-core machine the clients' decompression does not
take the CPU the servers under test need. A body shorter or longer than its
Content-Length counts as an error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    bytes_received: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def add(self, other: LoadResult) -> LoadResult:
        """This result and `other` as one run (for rounds of the same load)."""
        statuses = dict(self.statuses)
        for status, count in other.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
        return LoadResult(self.requests + other.requests, self.errors + other.errors, self.seconds + other.seconds,
                          self.latencies + other.latencies, self.bytes_received + other.bytes_received, statuses)

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
        return ordered[index]


def run_load(url: str, *, clients: int, seconds: float, verify, headers: dict | None = None,
             auth: tuple[str, str] | None = None, expect_status: int = 200,
             max_requests: int = 1_000_000, warmup: int = 2) -> LoadResult:
    """GET `url` from `clients` threads for `seconds`; every response body is read in full."""
    host = httpx.URL(url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the load generator only targets loopback, not {host}")
    lock = threading.Lock()
    result = LoadResult(requests=0, errors=0, seconds=0.0)
    budget = [max_requests]
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker():
        with httpx.Client(verify=verify, headers=headers, auth=auth, timeout=60.0) as client:
            for _ in range(warmup):
                client.get(url).read()
            start_gate.wait()
            local_latencies: list[float] = []
            local_ok = local_err = local_bytes = 0
            local_status: dict[int, int] = {}
            while time.monotonic() < stop_at[0]:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                began = time.perf_counter()
                try:
                    with client.stream("GET", url) as response:
                        received = sum(len(chunk) for chunk in response.iter_raw())
                except httpx.HTTPError:
                    local_err += 1
                    continue
                took = time.perf_counter() - began
                local_status[response.status_code] = local_status.get(response.status_code, 0) + 1
                declared = response.headers.get("Content-Length")
                complete = declared is None or int(declared) == received
                if response.status_code == expect_status and complete:
                    local_ok += 1
                    local_latencies.append(took)
                    local_bytes += received
                else:
                    local_err += 1
            with lock:
                result.requests += local_ok
                result.errors += local_err
                result.latencies.extend(local_latencies)
                result.bytes_received += local_bytes
                for status, count in local_status.items():
                    result.statuses[status] = result.statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + 3600  # far off until every client has warmed up
    start_gate.wait(timeout=120)
    began = time.monotonic()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join(timeout=seconds + 120)
    result.seconds = time.monotonic() - began
    return result
