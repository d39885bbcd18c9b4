"""`python -m bench.slow_attacker PORT COUNT CAFILE SECONDS`: keep COUNT stalled connections open to 127.0.0.1.

The slow-client benchmark runs this in its own process, so the attack does not
share a GIL with the clients whose latency it measures. It opens COUNT
connections (kinds from tests/helpers/slow_clients.py in turn), and
whenever the server closes one it records how long that one lived and opens
another, as an attacker keeping the pressure on would. It stops after SECONDS
or when its stdin closes, and prints one JSON line: how many were open at each
sample (twice a second), the lifetimes of the closed ones, and the openings
that failed.
"""

from __future__ import annotations

import json
import selectors
import ssl
import sys
import threading
import time

from tests.helpers.slow_clients import KINDS, open_slow

MAX_REOPENS = 200_000


def main(argv) -> int:
    port, count, cafile, seconds = int(argv[0]), int(argv[1]), argv[2], float(argv[3])
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    selector = selectors.DefaultSelector()
    opened_at: dict = {}
    lifetimes: list[float] = []
    failures = 0
    samples: list[int] = []

    def add(kind: str) -> None:
        nonlocal failures
        try:
            sock = open_slow(port, kind, cafile=cafile, timeout=10)
        except OSError:
            failures += 1
            return
        sock.setblocking(False)
        opened_at[sock] = (kind, time.monotonic())
        selector.register(sock, selectors.EVENT_READ)

    for i in range(count):
        add(KINDS[i % len(KINDS)])
    print(json.dumps({"ready": len(opened_at)}), flush=True)
    deadline = time.monotonic() + seconds
    next_sample = time.monotonic()
    reopens = 0
    while not stop.is_set() and time.monotonic() < deadline and reopens < MAX_REOPENS:
        closed = []
        events = selector.select(timeout=0.2)
        now = time.monotonic()  # one reading for the batch: reopening below takes time
        for key, _ in events:
            sock = key.fileobj
            try:
                if sock.recv(4096):
                    continue  # the server answered something; keep waiting for its close
            except (BlockingIOError, ssl.SSLWantReadError):
                continue  # TLS 1.3 session tickets, not a close
            except OSError:
                pass
            kind, began = opened_at.pop(sock)
            lifetimes.append(now - began)
            selector.unregister(sock)
            sock.close()
            closed.append(kind)
        for kind in closed:
            reopens += 1
            add(kind)
        if time.monotonic() >= next_sample:
            samples.append(len(opened_at))
            next_sample += 0.5
    for sock in list(opened_at):
        sock.close()
    print(json.dumps({"samples": samples, "lifetimes": lifetimes, "failures": failures}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
