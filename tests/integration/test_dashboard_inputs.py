"""The dashboard against hostile input, in process with Flask's test client over a store the real sync
filled from the simulator: nonsense query parameters get 400, no link or header takes the request's Host,
and an order whose CODE holds slashes, dots, markup, spaces or unicode opens its own page from its link."""

import base64
import re
import time
from urllib.parse import quote, urljoin

import pytest
from lxml import html

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from feedsvc.web import create_app
from tests.helpers.servers import PASSWORD, TOKEN, USER, base_env, storeden_env

HOSTILE_CODES = ["../../healthz", "a/b", "..", ".", "%2F", "%252E%252E", "<script>alert(1)</script>",
                 "\"quoted\" 'x'", "ž kód 1", "a?b=c#d", "a&b=1", "+1 2+", "back\\slash", "😀", "/leading",
                 "x;y=1", "%", "?", "#", "AB-10483"]
EVIL = "evil.example"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The web app over a store synced from a shop whose orders have hostile CODEs."""
    data_dir = tmp_path_factory.mktemp("hostile")
    shop = Shop(seed=5, orders=40, now=time.time() - 5)
    in_window = [o for o in shop.by_date() if o.status not in (6, 7)]
    for order, code in zip(in_window, HOSTILE_CODES):
        order.short_id = code
    with SandboxServer(shop, rate=(1000, 1.0)) as sandbox:
        settings = load_settings(base_env(data_dir, **storeden_env(sandbox)))
        run_sync(settings, progress=False)
        build_and_publish(settings)
    with Store.open(settings) as store:
        codes = {row["code"] for row in store.search_orders(since_ts=0, per_page=1000)[0]}
    assert set(HOSTILE_CODES) <= codes, set(HOSTILE_CODES) - codes
    return create_app(settings)


@pytest.fixture
def client(site):
    """Flask's test client, sending the feed's Basic credentials with every request."""
    test_client = site.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = _basic(USER, PASSWORD)
    return test_client


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def links(page_html: str) -> list[tuple[str, str]]:
    return [(a.text_content(), a.get("href")) for a in html.fromstring(page_html).iter("a")]


@pytest.mark.parametrize("code", HOSTILE_CODES)
def test_every_order_link_opens_its_own_order(client, code):
    listing = client.get("/orders", query_string={"q": code, "sort": "code"})
    assert listing.status_code == 200
    hrefs = [href for text, href in links(listing.text) if text == code]
    assert len(hrefs) == 1, f"no single link for {code!r}"
    target = urljoin(listing.request.url, hrefs[0])  # resolved as a browser does, dot segments included
    page = client.get(target)
    assert page.status_code == 200, (code, target)
    heading = html.fromstring(page.text).find(".//h1").text_content()
    assert heading == f"Order {code}"


@pytest.mark.parametrize("code", ["a/b", "ž kód 1", "<script>alert(1)</script>"])
def test_older_path_links_still_open_codes_with_slashes(client, code):
    page = client.get("/orders/" + quote(code, safe=""))
    assert page.status_code == 200
    assert html.fromstring(page.text).find(".//h1").text_content() == f"Order {code}"


@pytest.mark.parametrize("path", [
    "/orders?page=" + "9" * 30, "/orders?status=²", "/feed-view?page=²", "/feed-view?page=" + "9" * 30,
    "/orders?page=0", "/orders?page=-1", "/orders?page=1e3", "/orders?page=0x10", "/orders?page=%EF%BC%91",
    "/orders?page=%D9%A1", "/orders?page=%201", "/orders?page=1&page=2", "/orders?status=99",
    "/orders?status=1.0", "/orders?sort=evil", "/orders?sort=order_ts%20DESC--", "/orders?dir=sideways",
    "/orders?cod=maybe", "/orders?package=1", "/orders?q=%00", "/orders?q=" + "x" * 201,
    "/order?code=" + "x" * 1001,
    "/deliveries?page=0", "/deliveries?page=" + "9" * 30, "/deliveries?show=everything", "/deliveries?show=ok&show=all",
])
def test_nonsense_query_parameters_get_400_with_a_reason(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert response.text.startswith("400 Bad Request\nquery parameter '")
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", ["/orders", "/orders?page=2&sort=total&dir=asc&cod=yes&status=3&q=a"])
def test_parameters_a_form_sends_are_understood(client, path):
    response = client.get(path, query_string={"status": ""} if path == "/orders" else None)
    assert response.status_code == 200


def test_query_arguments_never_reach_url_building(client):
    response = client.get("/orders", query_string={"_method": "POST", "_external": "1", "_scheme": "javascript",
                                             "_anchor": "x", "sort": "total"}, headers={"Host": EVIL})
    assert response.status_code == 200
    hrefs = [href for _, href in links(response.text)]
    assert hrefs and all(href.startswith(("/", "#")) and not href.startswith("//") for href in hrefs)
    assert EVIL not in response.text and "_method" not in response.text and "javascript" not in response.text
    assert any("sort=total" in href for href in hrefs)  # known filters are carried by the pager and sorts


@pytest.mark.parametrize("path", ["/", "/orders", "/feed-view", "/quarantine", "/syncs", "/order?code=a%2Fb",
                                  "/healthz", "/feed.xml", "/nowhere", "/orders?page=x", "/deliveries?show=failed",
                                  "/metrics"])
def test_no_answer_names_the_host_it_was_sent(client, path):
    response = client.get(path, headers={"Host": EVIL, "X-Forwarded-Host": EVIL, "X-Forwarded-Proto": "http"})
    assert response.status_code in (200, 400, 404, 503)
    assert EVIL not in response.text
    assert not any(EVIL in value for value in response.headers.values())
    for _, href in links(response.text) if response.headers["content-type"].startswith("text/html") else []:
        assert href.startswith(("/", "?", "#")) and not href.startswith("//"), href


def test_the_revealed_token_url_is_a_path_the_browser_completes(client):
    overview = client.get("/", headers={"Host": EVIL})
    csrf = re.search(r'data-csrf="([^"]+)"', overview.text).group(1)
    revealed = client.post("/reveal-token", headers={"X-CSRF-Token": csrf, "Host": EVIL})
    assert revealed.status_code == 200 and revealed.json == {"path": f"/feed/{TOKEN}.xml"}
    assert 'data-path="/feed.xml"' in overview.text
