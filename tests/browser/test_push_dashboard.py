"""Push mode on the dashboard, in real headless Chromium against real gunicorn: the overview's Retino card,
the orders list's badges, an order's state in Retino with its JSON, and "Sync now" pushing a shipped order."""

import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from feedsvc.config import load_settings
from feedsvc.pipeline import run_pipeline
from feedsvc.retino.sandbox import RetinoSandboxServer
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.tls import ensure_self_signed
from tests.helpers.browser import shot
from tests.helpers.servers import GunicornServer, base_env, retino_env, storeden_env

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

RETINO_TOKEN = "rt_browser_7c1d9e3a"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("push-dashboard")
    shop = Shop(seed=21, orders=70, now=time.time() - 600, days=6)
    odd = next(o for o in shop.by_date() if o.status in (1, 2))
    odd.order["total"] = odd.order["cart"]["total"] = Decimal(str(odd.order["total"])) + Decimal("0.03")
    with SandboxServer(shop, rate=(1000, 1.0)) as storeden, \
            RetinoSandboxServer(token=RETINO_TOKEN, store_ids=("main-shop",)) as retino:
        retino.control("settings", {"items_must_add_up": True})  # the odd order's items miss its price by 0.03
        env = base_env(data_dir, **storeden_env(storeden), **retino_env(retino))
        settings = load_settings(env)
        outcome = run_pipeline(settings, progress=False)
        assert list(outcome.push.rejected) == [odd.short_id]
        with GunicornServer(env, tls=ensure_self_signed(data_dir)) as server:
            yield {"server": server, "settings": settings, "shop": shop, "retino": retino, "odd": odd,
                   "confirmed": outcome.push.confirmed}


def test_the_overview_shows_push_mode_its_counts_and_the_refusal(page, site):
    page.goto(site["server"].url + "/")
    assert "push and feed" in page.locator("#push-mode").inner_text()
    assert page.locator("#push-store").inner_text() == "main-shop"
    assert page.locator("#push-confirmed").inner_text() == str(site["confirmed"])
    assert (page.locator("#push-pending").inner_text(), page.locator("#push-rejected").inner_text()) == ("0", "1")
    refusal = page.locator("#push-rejections").inner_text()
    assert site["odd"].short_id in refusal and "Price mismatch: items" in refusal
    assert "rejected" in page.locator("#push-last").inner_text()
    assert RETINO_TOKEN not in page.content()
    shot(page, "push-overview")


def test_the_orders_list_badges_each_order(page, site):
    page.goto(site["server"].url + "/orders?" + urlencode({"q": site["odd"].short_id}))
    badge = page.locator("tbody tr .badge.push-rejected")
    assert badge.inner_text() == "rejected" and "Price mismatch" in badge.get_attribute("title")
    assert "rejected Price mismatch: items" in page.locator("tbody tr td.push").inner_text()
    page.goto(site["server"].url + "/orders")
    rows = page.locator("tbody tr").count()
    assert rows == 50 and page.locator("tbody .badge.push-pending").count() == 0
    assert page.locator("tbody .badge.push-confirmed").count() + page.locator("tbody .badge.push-rejected").count() \
        == rows
    assert page.locator("tbody td.push").first.inner_text().startswith(("in Retino since 20", "rejected"))
    shot(page, "push-orders")


def test_an_order_page_says_since_when_retino_has_it_and_shows_the_json(page, site):
    code = next(o["code"] for o in site["retino"].control("orders"))
    page.goto(site["server"].url + "/order?" + urlencode({"code": code}))
    assert "In Retino since" in page.locator("#push-state").inner_text()
    pushed = page.locator("#push-json").inner_text()
    assert f'"code": "{code}"' in pushed and '"store_id": "main-shop"' in pushed and '"statuses"' in pushed
    shot(page, "push-order")
    page.goto(site["server"].url + "/order?" + urlencode({"code": site["odd"].short_id}))
    state = page.locator("#push-state").inner_text()
    assert state.startswith("Rejected by Retino on") and "Price mismatch: items" in state
    shot(page, "push-order-rejected")


def test_sync_now_pushes_a_shipped_order(page, site):
    shipped = next(o for o in site["shop"].by_date() if o.status == 2 and o.tracking is None and o is not site["odd"])
    site["shop"].set_status(shipped.order_id, 3)
    shipped.tracking = {"courier": "GLS", "tracking": "771234567890"}
    page.goto(site["server"].url + "/")
    page.click("#sync-now")
    playwright_api.expect(page.locator("#push-last")).to_contain_text("1 sent", timeout=60000)
    assert page.locator("#push-pending").inner_text() == "0"
    sent = {o["code"]: o for o in site["retino"].control("orders")}[shipped.short_id]
    assert sent["statuses"][-1]["name"] == "DISPATCHED"
    page.goto(site["server"].url + "/syncs")
    assert page.locator("#push-runs tbody tr").count() == 2
    shot(page, "push-syncs")
    with Store.open(site["settings"]) as store:
        assert store.push_counts(0).last_run.shipments == 1
