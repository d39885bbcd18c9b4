"""`/metrics` over real gunicorn: Prometheus text that prometheus-client's own parser reads, the same figures from
every worker (read from the store at scrape time), push figures in push mode, and no figure without credentials."""

import time
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedsvc.config import load_settings
from feedsvc.push import PushStopped, retino_client, run_push
from feedsvc.store import Store
from feedsvc.storeden.shop import Shop
from tests.helpers.clocks import FakeTime
from tests.helpers.data import publish_feed
from tests.helpers.delivery import RETINO_AGENT, wait_for_requests
from tests.helpers.push import STORE, Rig
from tests.helpers.push import TOKEN as RETINO_TOKEN
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env

METRICS_TOKEN = "m3tr1cs-" + "k" * 40


def _samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_and_tell_the_store_figures_to_every_worker(tmp_path):
    env = base_env(tmp_path, FEEDSVC_METRICS_TOKEN=METRICS_TOKEN)
    publish_feed(tmp_path, created_ts=time.time() - 120)
    with Store.open(load_settings(env)) as store:
        run = store.start_sync_run("backfill")
        store.finish_sync_run(run, status="ok", requests=310, responses_429=2)
        run = store.start_sync_run("incremental")
        store.finish_sync_run(run, status="ok", requests=7, responses_429=0)
    with GunicornServer(env, workers=2) as server, server.client() as client:
        client.get("/feed.xml", auth=(USER, PASSWORD), headers={"User-Agent": RETINO_AGENT})
        client.get("/feed/" + "0" * 32 + ".xml")
        client.get("/feed/" + "0" * 32 + ".xml")
        wait_for_requests(tmp_path / "delivery.sqlite3", 3)
        scrapes = [client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}) for _ in range(6)]
        by_basic = client.get("/metrics", auth=(USER, PASSWORD))
    assert all(s.status_code == 200 for s in scrapes + [by_basic])
    assert scrapes[0].headers["content-type"].startswith("text/plain; version=0.0.4")
    figures = [_samples(s.text) for s in scrapes + [by_basic]]
    steady = {k: v for k, v in figures[0].items() if "age_seconds" not in k[0]}
    assert all({k: v for k, v in f.items() if "age_seconds" not in k[0]} == steady for f in figures)
    first = figures[0]
    assert first[("feedsvc_snapshot_orders", ())] == 2
    assert 110 <= first[("feedsvc_snapshot_age_seconds", ())] < 600
    assert first[("feedsvc_quarantined_orders", ())] == 0
    assert first[("feedsvc_sync_requests_total", ())] == 317
    assert first[("feedsvc_sync_429_total", ())] == 2
    assert first[("feedsvc_feed_requests_total", (("status", "200"),))] == 1
    assert first[("feedsvc_feed_requests_total", (("status", "404"),))] == 2
    assert time.time() - first[("feedsvc_last_successful_fetch_timestamp_seconds", ())] < 120
    assert first[("feedsvc_max_fetch_age_seconds", ())] == 46800


def test_metrics_refuse_scrapes_without_the_right_credentials(tmp_path):
    env = base_env(tmp_path, FEEDSVC_METRICS_TOKEN=METRICS_TOKEN)
    publish_feed(tmp_path)
    with GunicornServer(env) as server, server.client() as client:
        anonymous = client.get("/metrics")
        wrong_bearer = client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 48})
        feed_token = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        wrong_basic = client.get("/metrics", auth=(USER, "not the password at all"))
        refused = [client.get("/metrics", headers={"Authorization": f"Bearer wrong-{i}"}).status_code
                   for i in range(12)]
        still = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for response in (anonymous, wrong_bearer, feed_token, wrong_basic):
        assert response.status_code == 401 and "feedsvc_" not in response.text
        assert response.headers["www-authenticate"].startswith("Basic")
    assert 429 in refused  # wrong tokens count in the failure limiter
    assert still.status_code == 200 and "feedsvc_snapshot_orders" in still.text  # the right one always passes
    assert TOKEN not in still.text and PASSWORD not in still.text and METRICS_TOKEN not in still.text


def test_without_a_metrics_token_or_basic_auth_there_are_no_metrics(tmp_path):
    env = base_env(tmp_path)
    del env["FEEDSVC_FEED_USER"], env["FEEDSVC_FEED_PASSWORD"]
    with GunicornServer(env) as server, server.client() as client:
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_push_figures_come_from_the_push_runs_and_say_when_the_push_stopped(data_dir, start_storeden,
                                                                              start_retino):
    """Push mode against the Retino simulator: one order refused, two 429s on the way, then a push stopped by a
    wrong token. Every push figure is the store's, read by gunicorn at scrape time."""
    shop = Shop(seed=8, orders=60, now=time.time() - 600, days=6)
    odd = next(o for o in shop.by_date() if o.status in (1, 2))
    odd.order["total"] = odd.order["cart"]["total"] = Decimal(str(odd.order["total"])) + Decimal("0.03")
    rig = Rig(data_dir, start_storeden(shop), start_retino(token=RETINO_TOKEN, store_ids=(STORE,)),
              FEEDSVC_METRICS_TOKEN=METRICS_TOKEN)
    rig.retino.control("settings", {"items_must_add_up": True})
    feed = rig.publish()
    rig.retino.control("faults", {"count": 2, "status": 429, "retry_after": "1"})
    fake = FakeTime()
    with retino_client(rig.settings, sleep=fake.sleep, clock=fake) as client:
        first = run_push(rig.settings, client=client)
    second = run_push(rig.settings)  # nothing changed: nothing sent, one more call-free run
    assert list(first.rejected) == [odd.short_id] and first.responses_429 == 2 and fake.sleeps
    requests_seen = len(rig.calls())  # by the simulator, the 429s included
    with GunicornServer(rig.env, workers=2) as server, server.client() as client:
        scrape = lambda: _samples(client.get("/metrics", headers={  # noqa: E731
            "Authorization": f"Bearer {METRICS_TOKEN}"}).text)
        pushed = scrape()
        with pytest.raises(PushStopped) as refused:  # every order again, so the wrong token meets Retino
            run_push(rig.settings.with_overrides(retino_token="rt_live_not_the_token"), resend_all=True)
        stopped = scrape()
    assert pushed[("feedsvc_push_enabled", ())] == 1
    assert pushed[("feedsvc_push_orders", (("state", "confirmed"),))] == len(feed) - 1
    assert pushed[("feedsvc_push_orders", (("state", "rejected"),))] == 1
    assert pushed[("feedsvc_push_orders", (("state", "pending"),))] == 0
    assert pushed[("feedsvc_push_orders_sent_total", ())] == first.sent + second.sent == len(feed)
    assert pushed[("feedsvc_push_orders_confirmed_total", ())] == len(feed) - 1
    assert pushed[("feedsvc_push_orders_rejected_total", ())] == 1
    assert pushed[("feedsvc_push_api_calls_total", ())] == first.calls + second.calls > 0
    assert pushed[("feedsvc_push_api_requests_total", ())] == first.requests + second.requests == \
        requests_seen >= first.calls + 2
    assert pushed[("feedsvc_push_api_429_total", ())] == 2
    assert pushed[("feedsvc_push_stopped", ())] == 0
    assert time.time() - pushed[("feedsvc_last_push_timestamp_seconds", ())] < 120
    went_through = pushed[("feedsvc_last_successful_push_timestamp_seconds", ())]
    assert pushed[("feedsvc_last_push_timestamp_seconds", ())] <= went_through
    # the wrong token: the push stopped, the last successful one stays where it was
    assert stopped[("feedsvc_push_stopped", ())] == 1
    assert stopped[("feedsvc_last_successful_push_timestamp_seconds", ())] == went_through
    assert stopped[("feedsvc_last_push_timestamp_seconds", ())] > went_through
    assert refused.value.result.status == "auth_failed"
    assert stopped[("feedsvc_push_orders_sent_total", ())] == len(feed) + refused.value.result.sent
    assert stopped[("feedsvc_push_api_calls_total", ())] == first.calls + refused.value.result.calls


def test_without_push_mode_there_are_no_push_figures_but_the_switch(tmp_path):
    env = base_env(tmp_path, FEEDSVC_METRICS_TOKEN=METRICS_TOKEN)
    publish_feed(tmp_path)
    with GunicornServer(env) as server, server.client() as client:
        figures = _samples(client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text)
    assert figures[("feedsvc_push_enabled", ())] == 0
    assert not [name for name, _ in figures if name.startswith(("feedsvc_push_orders", "feedsvc_last_push"))]
