"""The browser tests' Chromium (Debian's, headless, through Playwright), launched once per module, and a page
logged in to the dashboard with the tests' credentials."""

from pathlib import Path

import pytest

from tests.helpers.browser import ARTIFACTS, CHROMIUM, FLAGS
from tests.helpers.servers import PASSWORD, USER


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context with Basic-auth credentials, a desktop viewport, and the self-signed certificate
    accepted; a module may define its own (the dashboard's also watches where requests go)."""
    context = browser.new_context(http_credentials={"username": USER, "password": PASSWORD},
                                  ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()
