"""A Storeden-compatible simulator: the Orders API v1.1 read endpoints over a generated Shop.

It answers with the document's shapes (bare arrays, `orders_filter.json`'s
wrapper, both `cart.items` forms), checks the `key`/`exchange` headers,
throttles like the real API (429 and `X-Storeden-Limit`), and can inject
faults (errors, 429 storms, latency). Tests and the demo drive it over real
sockets; a control API under `/_sandbox/` moves the shop forward. Every route
answers with and without the `/v1.1` prefix.

- `state.py`: what it remembers (`SandboxState`), the throttle window, faults;
- `api.py`: the read endpoints and the gate in front of them;
- `control.py`: the control API.
"""

from __future__ import annotations

from flask import Flask

from feedsvc.background_server import BackgroundServer
from feedsvc.storeden.sandbox import api, control
from feedsvc.storeden.sandbox.api import PREFIX
from feedsvc.storeden.sandbox.state import EXTENSION, SandboxState, SlidingWindow
from feedsvc.storeden.shop import Shop
from feedsvc.storeden.vocabulary import STOREDEN_RATE, Rate

__all__ = ["PREFIX", "SandboxServer", "create_sandbox_app"]

SANDBOX_KEY = "sandbox-key"
SANDBOX_EXCHANGE = "sandbox-exchange"


def create_sandbox_app(shop: Shop, *, key: str = SANDBOX_KEY, exchange: str = SANDBOX_EXCHANGE,
                       rate: tuple[int, float] = STOREDEN_RATE, retry_after: bool = False) -> Flask:
    app = Flask("feedsvc.sandbox")
    app.extensions[EXTENSION] = SandboxState(shop=shop, key=key, exchange=exchange,
                                             window=SlidingWindow(Rate(*rate)), retry_after=retry_after)
    for blueprint, name in ((api.bp, "storeden_api"), (control.bp, "storeden_control")):
        app.register_blueprint(blueprint)
        app.register_blueprint(blueprint, url_prefix=PREFIX + (blueprint.url_prefix or ""), name=f"{name}_v1_1")
    return app


class SandboxServer(BackgroundServer):
    """The simulator on a background thread, on 127.0.0.1 and a free port unless told otherwise."""

    def __init__(self, shop: Shop | None = None, *, orders: int = 200, seed: int = 1,
                 rate: tuple[int, float] = STOREDEN_RATE, host: str = "127.0.0.1", port: int = 0,
                 key: str = SANDBOX_KEY, exchange: str = SANDBOX_EXCHANGE, retry_after: bool = False):
        self.shop = shop or Shop(seed=seed, orders=orders)
        self.key, self.exchange, self.rate = key, exchange, Rate(*rate)
        super().__init__(create_sandbox_app(self.shop, key=key, exchange=exchange, rate=rate,
                                            retry_after=retry_after),
                         host=host, port=port, name="storeden-sandbox")
        self.url = f"http://{host}:{self.port}{PREFIX}"

    def stop(self) -> None:
        self.release()
        super().stop()

    @property
    def state(self) -> SandboxState:
        return self.app.extensions[EXTENSION]

    def stats(self) -> dict:
        return dict(self.state.stats)

    def reset_stats(self) -> None:
        self.state.stats.clear()

    def set_faults(self, **faults) -> None:
        self.state.set_faults(**faults)

    def set_rate(self, requests: int, seconds: float) -> None:
        self.state.set_rate(Rate(requests, seconds))

    def hold(self) -> None:
        """Make every API request wait until release(): a sync in flight stays in flight."""
        self.state.hold()

    def wait_until_held(self, timeout: float = 120.0) -> bool:
        """Whether a request arrived and is waiting, within `timeout` seconds."""
        return self.state.held.wait(timeout)

    def release(self) -> None:
        self.state.release()
