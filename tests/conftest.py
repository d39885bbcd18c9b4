"""Shared fixtures, flaskr-style: what a test needs is asked for by name.

- `data_dir`, `env`, `settings`: a fresh data dir with the feed's credentials (TOKEN, USER, PASSWORD of
  tests/helpers/servers.py), as the environment a child process gets and as checked Settings;
- `store`: the SQLite store of those settings, open; `published`: the two-order fixture feed published as
  the current snapshot;
- `storeden`: the Storeden simulator serving `storeden_shop` over a real socket on 127.0.0.1, allowing
  1,000 requests a second; the shop has 40 orders unless the test's `shop` mark says otherwise
  (`@pytest.mark.shop(seed=4, orders=150)`); `storeden_env` and `storeden_settings` point feedsvc at it;
  `start_storeden` starts more of them; `start_retino` starts the Retino simulator for push mode;
- `app`, `client`: the web app of `settings` (`feedsvc.web.create_app`) and Flask's test client;
- `runner`: the `feedsvc` command in this process, with `env` (`runner.invoke("render", "--full")`).

Tests never see the developer's FEEDSVC_* variables or `.env`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient

from feedsvc.config import Settings, load_settings
from feedsvc.publish import Snapshot
from feedsvc.retino.sandbox import RetinoSandboxServer
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.web import create_app
from tests.helpers.data import publish_feed
from tests.helpers.servers import base_env
from tests.helpers.servers import storeden_env as simulator_env

FAST = (1000, 1.0)  # the simulator's rate in tests: Storeden's own 5/60 would make every sync take minutes


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="run the property tests with many more examples (hypothesis)")


def pytest_configure(config):
    # Tests build their own Settings; a developer's FEEDSVC_* variables must not leak in.
    for name in list(os.environ):
        if name.startswith("FEEDSVC_"):
            del os.environ[name]


# -- settings and data ---------------------------------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    """The process environment of a feedsvc with a data dir, a feed token, a user and a password."""
    return base_env(data_dir)


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    return load_settings(env)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store.open(settings) as opened:
        yield opened


@pytest.fixture
def published(settings: Settings) -> Snapshot:
    """tests/fixtures/retino/two_orders.xml, published as the current snapshot."""
    return publish_feed(settings.data_dir)


# -- the Storeden simulator ----------------------------------------------------------------------------

@pytest.fixture
def start_storeden() -> Iterator[Callable[..., SandboxServer]]:
    """start(shop, rate=(1000, 1.0), **options) → a running SandboxServer, stopped after the test."""
    running: list[SandboxServer] = []

    def start(shop: Shop, *, rate: tuple[int, float] = FAST, **options) -> SandboxServer:
        server = SandboxServer(shop, rate=rate, **options).start()
        running.append(server)
        return server

    yield start
    for server in reversed(running):
        server.stop()


@pytest.fixture
def start_retino() -> Iterator[Callable[..., RetinoSandboxServer]]:
    """start(token=…, store_ids=(…,)) → a running Retino simulator (push mode), stopped after the test."""
    running: list[RetinoSandboxServer] = []

    def start(**options) -> RetinoSandboxServer:
        server = RetinoSandboxServer(**options).start()
        running.append(server)
        return server

    yield start
    for server in reversed(running):
        server.stop()


@pytest.fixture
def storeden_shop(request: pytest.FixtureRequest) -> Shop:
    """The simulated shop; its last events a few seconds old, as in a real shop (a sync compares with >=)."""
    mark = request.node.get_closest_marker("shop")
    options = {"seed": 1, "orders": 40, "now": time.time() - 5, **(mark.kwargs if mark else {})}
    return Shop(**options)


@pytest.fixture
def storeden(start_storeden: Callable[..., SandboxServer], storeden_shop: Shop) -> SandboxServer:
    return start_storeden(storeden_shop)


@pytest.fixture
def storeden_env(env: dict[str, str], storeden: SandboxServer) -> dict[str, str]:
    return {**env, **simulator_env(storeden)}


@pytest.fixture
def storeden_settings(storeden_env: dict[str, str]) -> Settings:
    return load_settings(storeden_env)


# -- the web app and the command -----------------------------------------------------------------------

@pytest.fixture
def app(settings: Settings) -> Flask:
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class FeedsvcRunner:
    """The `feedsvc` click group run in this process with the test's environment, from an empty folder."""

    def __init__(self, env: dict[str, str]):
        self.env = {k: v for k, v in env.items() if k.startswith("FEEDSVC_")}
        self.cli = CliRunner()

    def invoke(self, *args: str, env: dict[str, str] | None = None) -> Result:
        from feedsvc.cli import main

        return self.cli.invoke(main, list(args), env={**self.env, **(env or {})})


@pytest.fixture
def runner(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FeedsvcRunner:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    return FeedsvcRunner(env)
