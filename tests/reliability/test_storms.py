"""A storm of 429s, 500s and gateway time-outs: the sync gets through within its budget, and the old
feed keeps being served until the new one is published."""

import threading
import time

import pytest

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.storeden.client import StoredenClient
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from tests.helpers.servers import PASSWORD, USER, GunicornServer, base_env, storeden_env

RATE = (50, 1.0)  # a budget the storm's retries can overrun, were the client to ignore it


@pytest.mark.slow
def test_sync_survives_a_storm_and_the_old_feed_stays_served(data_dir, start_storeden):
    shop = Shop(seed=51, orders=60, now=time.time() - 5)
    sandbox = start_storeden(shop, rate=RATE)
    env = base_env(data_dir, **storeden_env(sandbox))
    settings = load_settings(env)
    run_sync(settings, progress=False)
    build_and_publish(settings)
    shop.advance(new_orders=15, status_changes=10, new_tracking=3)
    sandbox.reset_stats()
    sandbox.set_faults(error_rate=0.25, throttle_storm_rate=0.2, timeout_rate=0.05, latency=0.0, seed=3)
    served, stop, first_read = [], threading.Event(), threading.Event()
    with GunicornServer(env) as server:
        with server.client(auth=(USER, PASSWORD)) as client:
            old_etag = client.get("/feed.xml").headers["etag"]

            def keep_fetching():
                with server.client(auth=(USER, PASSWORD)) as reader:
                    deadline = time.monotonic() + 120
                    while not stop.is_set() and time.monotonic() < deadline:
                        response = reader.get("/feed.xml")
                        served.append((response.status_code, response.headers.get("etag")))
                        first_read.set()
                        time.sleep(0.05)

            reader = threading.Thread(target=keep_fetching)
            reader.start()
            assert first_read.wait(60), "the reader never got an answer"
            results = []
            for _ in range(6):  # bounded: a few runs at most
                client_ = StoredenClient.from_settings(settings, backoff=0.05)
                results.append(run_sync(settings, client=client_, progress=False))
                client_.close()
                if results[-1].status == "ok":
                    break
            during = list(served)
            build_and_publish(settings)
            stop.set()
            reader.join()
            new_etag = client.get("/feed.xml").headers["etag"]
    stats = sandbox.stats()
    assert results[-1].status == "ok", [r.summary() for r in results]
    assert stats.get("429_storm", 0) + stats.get("500", 0) + stats.get("timeouts", 0) > 10  # it was a storm
    assert stats.get("429", 0) == 0  # the client never went over the server's budget
    assert during and all(status == 200 and etag == old_etag for status, etag in during)
    assert new_etag != old_etag
