"""The dashboard in real headless Chromium (Debian's), against real gunicorn with the simulator's data."""

import re
import time
from urllib.parse import urlencode

import pytest

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from feedsvc.tls import ensure_self_signed
from tests.helpers.browser import shot
from tests.helpers.servers import PASSWORD, TOKEN, USER, GunicornServer, base_env, storeden_env

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

HOSTILE_CODE = "../../healthz <b>x</b>/ž"  # dots, slashes, markup, a space and unicode in one CODE


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("dashboard")
    shop = Shop(seed=11, orders=80, now=time.time() - 5)
    broken = next(o for o in shop.by_date() if o.status in (1, 2))
    shop.corrupt(broken.order_id, "missing_email")
    hostile = next(o for o in shop.by_date() if o.status in (1, 2) and o is not broken)
    hostile.short_id = HOSTILE_CODE
    with SandboxServer(shop, rate=(1000, 1.0)) as sandbox:
        env = base_env(data_dir, **storeden_env(sandbox))
        settings = load_settings(env)
        run_sync(settings, progress=False)
        build_and_publish(settings)
        cert = ensure_self_signed(data_dir)
        with GunicornServer(env, tls=cert) as server:
            yield {"server": server, "settings": settings, "sandbox": sandbox, "broken": broken, "hostile": hostile}




@pytest.fixture
def page(browser, site):
    context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                  ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    origin = site["server"].url
    page.requests_seen = []
    page.on("request", lambda request: page.requests_seen.append(request.url))
    yield page
    outside = [url for url in page.requests_seen if not url.startswith(origin) and not url.startswith("data:")]
    assert not outside, f"requests outside the server: {outside}"
    context.close()



def test_without_credentials_nothing_is_shown(browser, site):
    context = browser.new_context(ignore_https_errors=True)
    for path in ("/", "/orders", "/quarantine", "/feed-view"):
        response = context.request.get(site["server"].url + path)
        assert response.status == 401
        assert "Orders" not in response.text()
    context.close()


def test_overview_shows_the_right_counts_and_hides_the_token(page, site):
    settings = site["settings"]
    snapshot = current_snapshot(settings.snapshots_dir)
    with Store.open(settings) as store:
        quarantined = len(store.list_quarantine())
        requests = store.last_sync_run().requests
    response = page.goto(site["server"].url + "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert page.locator("#orders-count").inner_text() == str(snapshot.meta["orders"])
    assert page.locator("#quarantine-count").inner_text() == str(quarantined) and quarantined >= 1
    assert page.locator("#requests-used").inner_text() == str(requests)
    assert page.locator("#etag").inner_text() == snapshot.etag
    assert page.locator("svg.chart rect.bar").count() == settings.days + 1
    assert TOKEN not in page.content() and PASSWORD not in page.content()
    assert page.locator("#feed-url").inner_text() == site["server"].url + "/feed.xml"  # the browser's origin
    shot(page, "overview")
    page.click("#reveal")
    playwright_api.expect(page.locator("#token-url")).to_have_text(f"{site['server'].url}/feed/{TOKEN}.xml",
                                                                   timeout=10000)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "overview-phone")


def test_search_finds_an_order_by_code(page, site):
    with Store.open(site["settings"]) as store:
        rows, _ = store.search_orders(since_ts=0, exclude_statuses={6, 7})
    code = rows[5]["code"]
    page.goto(site["server"].url + "/orders")
    shot(page, "orders")
    page.fill("input[name=q]", code)
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r".*q=.*"))
    assert page.locator("#result-count").inner_text() == "1 order"
    assert page.locator("tbody tr td a").first.inner_text() == code
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "orders-phone")


def test_an_order_with_a_hostile_code_opens_from_its_link(page, site):
    page.goto(site["server"].url + "/orders")
    page.fill("input[name=q]", HOSTILE_CODE)
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r".*q=.*"))
    link = page.locator("tbody tr td a").first
    assert link.inner_text() == HOSTILE_CODE
    link.click()
    page.wait_for_url(re.compile(r".*/order\?code=.*"))
    assert page.locator("h1").inner_text() == f"Order {HOSTILE_CODE}"
    assert site["hostile"].order_id in page.locator("pre.json").first.inner_text()
    assert page.locator("h1 b").count() == 0  # the markup is text, not elements
    shot(page, "order-hostile-code")


def test_order_page_shows_cod_item_and_package_numbers(page, site):
    with Store.open(site["settings"]) as store:
        rows, _ = store.search_orders(since_ts=0, exclude_statuses={6, 7}, cod=True, has_package=True)
    row = rows[0]
    page.goto(site["server"].url + "/order?" + urlencode({"code": row["code"]}))
    items = page.locator("#items").inner_text()
    assert "Cash on Delivery" in items and "billing" in items
    for number in row["package_numbers"].split():
        assert number in page.locator("#packages").inner_text()
    assert "&lt;ORDER&gt;" in page.content() or "<ORDER>" in page.locator("pre.xml").inner_text()
    assert '"orderID"' in page.locator("pre.json").first.inner_text()
    shot(page, "order")


def test_quarantine_shows_the_broken_order_with_its_reason(page, site):
    page.goto(site["server"].url + "/quarantine")
    table = page.locator("#quarantine").inner_text()
    assert site["broken"].order_id in table and "email" in table
    shot(page, "quarantine")
    page.click(f"a[href$='/quarantine/raw?order_id={site['broken'].order_id}']")
    assert site["broken"].order_id in page.content()


def test_feed_view_and_sync_history(page, site):
    page.goto(site["server"].url + "/feed-view")
    assert page.locator("details.order").count() > 0
    page.locator("details.order summary").first.click()
    shot(page, "feed")
    page.goto(site["server"].url + "/syncs")
    assert "backfill" in page.locator("#syncs").inner_text()
    shot(page, "syncs")


def test_sync_now_ends_in_a_new_snapshot(page, site):
    site["sandbox"].shop.advance(new_orders=2, status_changes=2)
    page.goto(site["server"].url + "/")
    before = page.locator("#etag").inner_text()
    page.click("#sync-now")
    playwright_api.expect(page.locator("#etag")).not_to_have_text(before, timeout=60000)
    assert page.locator("#etag").inner_text() == current_snapshot(site["settings"].snapshots_dir).etag
    shot(page, "after-sync")


def test_sync_now_shows_the_running_one_until_it_ends(page, site):
    site["sandbox"].shop.advance(new_orders=1, status_changes=1)
    page.goto(site["server"].url + "/")
    before = page.locator("#etag").inner_text()
    site["sandbox"].hold()  # the started run waits at the simulator while the page is looked at
    try:
        page.click("#sync-now")
        playwright_api.expect(page.locator("#sync-state")).to_contain_text("Running since", timeout=30000)
        playwright_api.expect(page.locator("#sync-state")).to_contain_text("(from the dashboard)")
        playwright_api.expect(page.locator("#sync-now")).to_be_disabled()
        assert site["sandbox"].wait_until_held()
        other = page.context.new_page()  # a second window shows the same run, its button off
        other.goto(site["server"].url + "/")
        playwright_api.expect(other.locator("#sync-now")).to_be_disabled()
        playwright_api.expect(other.locator("#sync-state")).to_contain_text("Running since")
        shot(other, "sync-running")
        other.close()
    finally:
        site["sandbox"].release()
    playwright_api.expect(page.locator("#etag")).not_to_have_text(before, timeout=60000)
    playwright_api.expect(page.locator("#sync-now")).to_be_enabled()
