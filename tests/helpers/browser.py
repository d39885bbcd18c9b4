"""Debian's Chromium for the browser tests: where it is, how it is started, where screenshots go."""

from tests.helpers.servers import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps"]


def shot(page, name: str) -> None:
    """The whole page into test-artifacts/<name>.png."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
