"""A Retino Orders API v2 simulator: what the vendor's document states, enforced, over real sockets.

It checks the exact `Authorization: <token>` header (no scheme word), upserts
on code + store_id (201 created, 200 updated, a stable UUID `id`), refuses
bulk calls over 100 orders, the price rule ("Price mismatch: 1000 + 210 ≠
1200" when all three values are sent and do not add up), store ids it was
not told about ("Store ID 'xyz' does not exist"), unknown status values, and
money that is not a decimal string. It also takes PATCH status, partial
PATCH and POST /tracking-shipping. A control API under `/_sandbox/` injects
429s (with Retry-After) and 5xx answers, and shows the stored orders and a
log of calls, so tests and the demo can check what actually arrived. Every
route answers with and without the `/api/v2` prefix.

The bulk answer's shape is undocumented; the simulator answers
`{"created": [...], "updated": [...], "failed": [...]}` by default, or a flat
`{"results": [...]}` list, or `{"message": "Orders processed"}` naming no
order at all (`bulk_shape`), so the client's tolerant reader and the push's
handling of silent answers are exercised on more than one shape.

Two more switches of the control API's settings: `items_must_add_up`
enforces a rule the document does not state but a stricter Retino might
(the items' totals add up to the order's price), so tests see a per-order
refusal of JSON that keeps the document's own rule; `shipments_endpoint:
false` answers 404 to POST /tracking-shipping, as a Retino without it would.

- `checks.py`: the document's rules for an order;
- `state.py`: what it remembers (`SandboxState`), faults;
- `orders.py`: the API endpoints; `control.py`: the control API.
"""

from __future__ import annotations

from typing import Any

import httpx
from flask import Flask

from feedsvc import jsonutil
from feedsvc.background_server import BackgroundServer
from feedsvc.retino.sandbox import control, orders
from feedsvc.retino.sandbox.state import EXTENSION, SandboxState

PREFIX = "/api/v2"
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_STORE_IDS = ("main-shop",)


def create_retino_sandbox_app(*, token: str = SANDBOX_TOKEN, store_ids: tuple[str, ...] = SANDBOX_STORE_IDS) -> Flask:
    app = Flask("feedsvc.retino_sandbox")
    app.extensions[EXTENSION] = SandboxState(token, tuple(store_ids))
    for blueprint, name in ((orders.bp, "retino_orders"), (control.bp, "retino_control")):
        app.register_blueprint(blueprint)
        app.register_blueprint(blueprint, url_prefix=PREFIX + (blueprint.url_prefix or ""), name=f"{name}_v2")
    return app


class RetinoSandboxServer(BackgroundServer):
    """The simulator on a background thread, on 127.0.0.1 and a free port unless told otherwise.

    `url` is the API base to give RetinoClient (…/api/v2).
    """

    def __init__(self, *, token: str = SANDBOX_TOKEN, store_ids: tuple[str, ...] = SANDBOX_STORE_IDS,
                 host: str = "127.0.0.1", port: int = 0):
        self.token, self.store_ids = token, tuple(store_ids)
        super().__init__(create_retino_sandbox_app(token=token, store_ids=self.store_ids),
                         host=host, port=port, name="retino-sandbox")
        self.url = f"http://{host}:{self.port}{PREFIX}"

    @property
    def state(self) -> SandboxState:
        return self.app.extensions[EXTENSION]

    def control(self, path: str, body: Any = None) -> Any:
        """Call the control API over HTTP: GET without a body, POST with one (`{}` for none)."""
        url = f"{self.url}/_sandbox/{path}"
        headers = {"Authorization": self.token, "Content-Type": "application/json"}
        with httpx.Client(timeout=30) as http:
            response = http.get(url, headers=headers) if body is None else \
                http.post(url, headers=headers, content=jsonutil.dumps(body))
        response.raise_for_status()
        return jsonutil.loads(response.text)
