"""Child process of the render benchmark, so each measurement has its own peak memory.

    python -m bench.render_child full DATA_DIR      time build_and_publish with an empty fragment cache
    python -m bench.render_child build DATA_DIR     time build_and_publish reusing cached fragments
    python -m bench.render_child plain DATA_DIR     time lxml writing the same XML from prepared strings
    python -m bench.render_child touch DATA_DIR P   change P percent of the stored orders (not timed)

Each prints one JSON line with the seconds of the timed part.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.datasets import settings_for
from bench.plain_feed import plain_order, write_plain_feed
from feedsvc import jsonutil
from feedsvc.build import build_and_publish, mapping_context
from feedsvc.retino.mapping import MappingError, map_order
from feedsvc.store import Store


def build(settings, *, full: bool) -> dict:
    if full:
        with Store.open(settings) as store:
            store.forget_fragments()  # not timed: the timed build starts from an empty cache
    started = time.perf_counter()
    result = build_and_publish(settings)
    return {"seconds": time.perf_counter() - started, "orders": result.orders, "rendered": result.rendered}


def plain(settings) -> dict:
    with Store.open(settings) as store:
        context = mapping_context(settings, store)
        prepared = []
        for stored in store.iter_window_orders(int(time.time() - settings.days * 86400), settings.exclude_statuses):
            try:
                order = map_order(stored.raw, tracking=stored.tracking, summary=stored.summary, context=context)
            except MappingError:
                continue
            prepared.append(plain_order(order.order))
    fd, path = tempfile.mkstemp(suffix=".xml")
    os.close(fd)
    started = time.perf_counter()
    with open(path, "wb") as out:
        count = write_plain_feed(prepared, out)
    seconds = time.perf_counter() - started
    os.unlink(path)
    return {"seconds": seconds, "orders": count}


def touch(settings, percent: float) -> dict:
    with Store.open(settings) as store:
        ids = store.order_ids()
        step = max(int(100 / percent), 1)
        changed = 0
        with store.transaction():
            for order_id in ids[::step]:
                stored = store.get_order(order_id)
                raw = stored.raw
                raw["message"] = f"changed for the benchmark {time.time()}"
                store.save_order_raw(order_id, jsonutil.dumps(raw), status=stored.status, order_ts=stored.order_ts)
                changed += 1
    return {"seconds": 0.0, "changed": changed}


def main(argv: list[str]) -> int:
    mode, data_dir = argv[0], Path(argv[1])
    settings = settings_for(data_dir)
    if mode in ("full", "build"):
        answer = build(settings, full=mode == "full")
    elif mode == "plain":
        answer = plain(settings)
    elif mode == "touch":
        answer = touch(settings, float(argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
