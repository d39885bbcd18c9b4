"""Delivery and backfill in the dashboard, in real headless Chromium against real gunicorn: the overview tells
when and by what the feed was last downloaded, the delivery log page lists requests with a chart per day, and
a running backfill shows its progress and ETA. Screenshots in test-artifacts/."""

import json
import time

import httpx
import pytest

from feedsvc.backfill import PROGRESS_BOOKMARK
from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.pipeline import hold
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from feedsvc.tls import ensure_self_signed
from tests.helpers.browser import ARTIFACTS, shot
from tests.helpers.delivery import RETINO_AGENT, wait_for_requests
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env, storeden_env

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("delivery")
    shop = Shop(seed=12, orders=60, now=time.time() - 5)
    with SandboxServer(shop, rate=(1000, 1.0)) as sandbox:
        env = base_env(data_dir, **storeden_env(sandbox))
        settings = load_settings(env)
        run_sync(settings, progress=False)
        build_and_publish(settings)
    cert = ensure_self_signed(data_dir)
    with GunicornServer(env, tls=cert) as server:
        yield {"server": server, "settings": settings, "shop": shop}


def test_the_overview_says_nothing_fetched_yet_then_who_fetched_and_the_log_lists_it(page, site):
    server = site["server"]
    page.goto(server.url + "/")
    assert "never" in page.locator("#last-fetch").inner_text()
    assert "Nothing has downloaded the feed yet" in page.locator("#delivery-warning").inner_text()
    with server.client() as client:  # Retino's pull, a wrong password, a scanner
        client.get("/feed.xml", auth=(USER, PASSWORD), headers={"User-Agent": RETINO_AGENT})
        etag = client.get(f"/feed/{TOKEN}.xml", headers={"User-Agent": RETINO_AGENT}).headers["etag"]
        client.get(f"/feed/{TOKEN}.xml", headers={"User-Agent": RETINO_AGENT, "If-None-Match": etag})
        for _ in range(5):
            client.get("/feed.xml", auth=(USER, "an old password in Retino"), headers={"User-Agent": RETINO_AGENT})
            client.get("/feed/" + "0" * 32 + ".xml", headers={"User-Agent": "masscan/1.3"})
    wait_for_requests(site["settings"].delivery_log_path, 13)
    page.goto(server.url + "/")
    last = page.locator("#last-fetch").inner_text()
    assert last.startswith("Retino, ") and last.endswith("ago, 304 not modified"), last
    assert "401 wrong or missing password" in page.locator("#delivery-warning").inner_text()
    page.locator("#delivery").screenshot(path=str(ARTIFACTS / "delivery-panel.png"))
    shot(page, "overview-delivery")
    page.click("#delivery-log-link")
    page.wait_for_url("**/deliveries")
    assert page.locator("#delivery-count").inner_text() == "5 rows"  # two folds of five failures
    rows = page.locator("#deliveries tbody tr")
    assert rows.count() == 5
    assert "masscan/1.3" in page.locator("#deliveries").inner_text()
    assert page.locator("svg.deliveries rect.bar.ok").count() == 1
    assert page.locator("svg.deliveries rect.bar.refused").count() == 1
    today = page.locator("svg.deliveries g title").last.text_content()
    assert today.endswith(": 2× 200, 1× 304, 5× 401, 5× 404"), today
    assert TOKEN not in page.content() and PASSWORD not in page.content()
    shot(page, "deliveries")
    page.select_option("select[name=show]", "failed")
    page.click("form.filters button")
    page.wait_for_url("**/deliveries?show=failed")
    assert page.locator("#deliveries tbody tr").count() == 2
    assert httpx.get(server.url + "/deliveries?page=0", verify=False, auth=(USER, PASSWORD)).status_code == 400


def test_a_running_backfill_shows_its_progress_and_eta(page, site):
    settings = site["settings"]
    with Store.open(settings) as store:  # orders listed but not fetched yet: pending
        for n in range(40):
            store.upsert_summary(f"999_pending{n:03d}", status=4, order_ts=int(time.time()) - 3600, short_id=None,
                                 locale=None, summary={})
    with hold(settings, command="feedsvc sync --publish"), Store.open(settings) as store:
        run_id = store.start_sync_run("backfill")
        store.set_bookmark(PROGRESS_BOOKMARK, json.dumps({
            "run_id": run_id, "started_at": time.time() - 300, "updated_at": time.time(), "listing_done": False,
            "listed": 100, "estimated_total": 420, "done": 12, "queued": 88, "requests_left": 600,
            "eta_seconds": 7200, "finished": False}))
        page.goto(site["server"].url + "/")
        assert page.locator("#backfill-h").inner_text() == "Backfill in progress"
        assert page.locator("#backfill-pending").inner_text() == "40"
        assert "about 420 (still listing)" in page.locator("#backfill-fetched").inner_text()
        assert page.locator("#backfill-eta").inner_text().split(" at ")[0] in ("about 119 min", "about 120 min")
        page.locator("#backfill").screenshot(path=str(ARTIFACTS / "backfill-progress.png"))
        store.finish_sync_run(run_id, status="partial")
    page.goto(site["server"].url + "/")
    assert page.locator("#backfill-h").inner_text() == "Orders pending"
    assert "40 orders of the window still wait" in page.locator("#backfill-pending").inner_text()
