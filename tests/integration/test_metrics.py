"""`/metrics` over real gunicorn: Prometheus text that prometheus-client's own parser reads, the same figures from
every worker (read from the store at scrape time), and no figure without credentials."""

import time

from prometheus_client.parser import text_string_to_metric_families

from feedsvc.config import load_settings
from feedsvc.store import Store
from tests.integration.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env
from tests.integration.test_delivery import RETINO_AGENT, wait_for_requests
from tests.integration.test_serve import publish

METRICS_TOKEN = "m3tr1cs-" + "k" * 40


def _samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_and_tell_the_store_figures_to_every_worker(tmp_path):
    env = base_env(tmp_path, FEEDSVC_METRICS_TOKEN=METRICS_TOKEN)
    publish(tmp_path, created_ts=time.time() - 120)
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
    publish(tmp_path)
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
