"""A Retino Orders API v2 simulator: what the vendor's document states, enforced, over real sockets.

It checks the exact `Authorization: <token>` header (no scheme word), upserts
on code + store_id (201 created, 200 updated, a stable UUID `id`), refuses
bulk calls over 100 orders, the price rule ("Price mismatch: 1000 + 210 ≠
1200" when all three values are sent and do not add up), store ids it was
not told about ("Store ID 'xyz' does not exist"), unknown status values, and
money that is not a decimal string. It also takes PATCH status, partial
PATCH and POST /tracking-shipping. A control API under `/_sandbox/` injects
429s (with Retry-After) and 5xx answers, and shows the stored orders and a
log of calls, so tests and the demo can check what actually arrived.

`items_must_add_up` (control API, or `--items-must-add-up`) enforces a rule
the document does not state but a stricter Retino might: the items'
`total_price.with_vat` must add up to the order's `price.with_vat`, else
"Price mismatch: items 79.34 ≠ price 79.37". It lets tests see a per-order
refusal of JSON that keeps the document's own rule.

The bulk answer's shape is undocumented; the simulator answers
`{"created": [...], "updated": [...], "failed": [...]}` by default, or a flat
`{"results": [...]}` list, or `{"message": "Orders processed"}` naming no
order at all (`bulk_shape`), so the client's tolerant reader and the push's
handling of silent answers are exercised on more than one shape.
"""

from __future__ import annotations

import hmac
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import click
import httpx
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from feedsvc import jsonutil
from feedsvc.retino.api import BULK_LIMIT, DELIVERY_TYPES
from feedsvc.retino.push_payload import RETINO_STATUSES

PREFIX = "/api/v2"
ITEM_TYPES = ("PRODUCT", "SHIPPING", "BILLING", "DISCOUNT")
BULK_SHAPES = ("split", "results", "silent")
CALL_LOG_SIZE = 10_000


class Invalid(ValueError):
    """An order the simulator refuses; the message is what Retino would say."""


@dataclass
class Faults:
    """Injected trouble: the next `count` calls answer `status`; after those, `rate` of calls do.

    `after`: the order is stored first and then the error sent, as when a
    gateway times out on work that was done.
    """

    status: int = 503
    count: int = 0
    rate: float = 0.0
    rate_statuses: list[int] = field(default_factory=lambda: [429, 500, 502, 503])
    retry_after: str | None = "1"
    after: bool = False
    seed: int = 7


def _json(value: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(jsonutil.dumps(value), status=status, mimetype="application/json", headers=headers or {})


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return _json({"error": message}, status, headers)


# -- validation: what the document states ---------------------------------------------

def _decimal(value: Any, where: str) -> Decimal:
    if not isinstance(value, str):
        raise Invalid(f"{where} must be a decimal string such as \"199.99\", got {jsonutil.dumps(value)}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Invalid(f"{where} is not a decimal number: {value!r}") from None
    if not number.is_finite():
        raise Invalid(f"{where} is not a decimal number: {value!r}")
    return number


def _check_price(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise Invalid(f"{where} must be an object")
    values = {key: _decimal(block[key], f"{where}.{key}") for key in ("with_vat", "without_vat", "vat", "vat_rate")
              if key in block}
    if {"with_vat", "without_vat", "vat"} <= values.keys() and \
            values["without_vat"] + values["vat"] != values["with_vat"]:
        raise Invalid(f"Price mismatch: {block['without_vat']} + {block['vat']} ≠ {block['with_vat']}")


def _check_text(value: Any, where: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(f"{where} must be a non-empty string" if required else f"{where} must be a string")


def _check_date(value: Any, where: str) -> None:
    _check_text(value, where, required=True)
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{where} is not an ISO 8601 date and time: {value!r}") from None


def _check_statuses(value: Any) -> None:
    if not isinstance(value, list):
        raise Invalid("statuses must be a list")
    for index, entry in enumerate(value):
        where = f"statuses[{index}]"
        if not isinstance(entry, dict):
            raise Invalid(f"{where} must be an object")
        if entry.get("name") not in RETINO_STATUSES:
            raise Invalid(f"{where}.name: unknown status value {entry.get('name')!r}")
        if "date" in entry:
            _check_date(entry["date"], f"{where}.date")


def check_order(order: Any, *, partial: bool = False) -> None:
    """Raise Invalid with Retino-like wording when `order` breaks a rule the document states."""
    if not isinstance(order, dict):
        raise Invalid("an order must be a JSON object")
    if not partial:
        _check_text(order.get("code"), "code", required=True)
        _check_text(order.get("store_id"), "store_id", required=True)
    if "order_date" in order:
        _check_date(order["order_date"], "order_date")
    for key in ("currency", "language"):
        _check_text(order.get(key), key)
    if "price" in order:
        _check_price(order["price"], "price")
    for key in ("customer", "billing_address", "shipping_address"):
        if key in order:
            block = order[key]
            if not isinstance(block, dict):
                raise Invalid(f"{key} must be an object")
            for inner, value in block.items():
                _check_text(value, f"{key}.{inner}")
    if "items" in order:
        if not isinstance(order["items"], list):
            raise Invalid("items must be a list")
        for index, item in enumerate(order["items"]):
            where = f"items[{index}]"
            if not isinstance(item, dict):
                raise Invalid(f"{where} must be an object")
            _check_text(item.get("name"), f"{where}.name", required=True)
            if item.get("item_type") not in ITEM_TYPES:
                raise Invalid(f"{where}.item_type must be one of {', '.join(ITEM_TYPES)}, "
                              f"got {item.get('item_type')!r}")
            _check_text(item.get("code"), f"{where}.code")
            if "amount" in item:
                _decimal(item["amount"], f"{where}.amount")
            for block in ("unit_price", "total_price"):
                if block in item:
                    _check_price(item[block], f"{where}.{block}")
    if "statuses" in order:
        _check_statuses(order["statuses"])


def check_item_sums(order: dict) -> None:
    """The stricter rule: the items' totals (with VAT) add up to the order's price."""
    price = order.get("price")
    items = order.get("items")
    if not isinstance(price, dict) or "with_vat" not in price or not isinstance(items, list) or not items:
        return
    lines = [item["total_price"]["with_vat"] for item in items
             if isinstance(item, dict) and isinstance(item.get("total_price"), dict) and "with_vat" in item["total_price"]]
    total = sum((_decimal(value, "items[].total_price.with_vat") for value in lines), Decimal(0))
    if total != _decimal(price["with_vat"], "price.with_vat"):
        raise Invalid(f"Price mismatch: items {total} ≠ price {price['with_vat']}")


def _merge(stored: dict, changes: dict) -> dict:
    """A partial update: objects merged key by key, anything else replaced."""
    merged = dict(stored)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# -- the application ----------------------------------------------------------------------

class SandboxState:
    """Everything the simulator remembers, behind one lock."""

    def __init__(self, store_ids: tuple[str, ...]):
        self.lock = threading.RLock()
        self.store_ids = set(store_ids)
        self.bulk_shape = "split"
        self.items_must_add_up = False
        self.shipments_endpoint = True  # False: POST /tracking-shipping answers 404, as if Retino had none
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.orders: dict[tuple[str, str], dict] = {}
            self.by_id: dict[str, tuple[str, str]] = {}
            self.shipments: list[dict] = []
            self.calls: deque[dict] = deque(maxlen=CALL_LOG_SIZE)
            self.faults = Faults()
            self.rng = random.Random(self.faults.seed)

    def upsert(self, order: dict) -> tuple[int, dict]:
        """(201 or 200, the stored order) or Invalid."""
        check_order(order)
        if order["store_id"] not in self.store_ids:
            raise Invalid(f"Store ID '{order['store_id']}' does not exist")
        if self.items_must_add_up:
            check_item_sums(order)
        key = (order["store_id"], order["code"])
        with self.lock:
            now = time.time()
            existing = self.orders.get(key)
            if existing is None:
                stored = {**order, "id": str(uuid.uuid4()), "_created": now, "_updated": now, "_writes": 1}
                self.orders[key] = stored
                self.by_id[stored["id"]] = key
                return 201, stored
            stored = {**order, "id": existing["id"], "_created": existing["_created"], "_updated": now,
                      "_writes": existing["_writes"] + 1}
            self.orders[key] = stored
            return 200, stored

    def find(self, order_id: str) -> dict | None:
        with self.lock:
            key = self.by_id.get(order_id)
            return self.orders.get(key) if key else None

    def draw_fault(self) -> Faults | None:
        """The fault to answer this call with, if any, consuming one of `count`."""
        with self.lock:
            faults = self.faults
            if faults.count > 0:
                faults.count -= 1
                return Faults(status=faults.status, retry_after=faults.retry_after, after=faults.after)
            if faults.rate and self.rng.random() < faults.rate:
                status = self.rng.choice(faults.rate_statuses)
                return Faults(status=status, retry_after=faults.retry_after, after=faults.after)
        return None


def public(order: dict) -> dict:
    """A stored order as the API shows it (without the simulator's bookkeeping)."""
    return {k: v for k, v in order.items() if not k.startswith("_")}


def create_retino_sandbox_app(*, token: str = "sandbox-token",
                              store_ids: tuple[str, ...] = ("main-shop",)) -> Flask:
    app = Flask("feedsvc.retino_sandbox")
    state = SandboxState(tuple(store_ids))
    app.config["RETINO_SANDBOX_STATE"] = state

    def authorised() -> bool:
        return hmac.compare_digest(request.headers.get("Authorization", "").encode(), token.encode())

    def log_call(status: int, **extra) -> None:
        with state.lock:
            state.calls.append({"method": request.method, "path": request.path, "status": status,
                                "at": time.time(), **extra})

    def body() -> Any:
        if not request.data:
            raise Invalid("the request has no JSON body")
        try:
            return jsonutil.loads(request.get_data(as_text=True))
        except ValueError:
            raise Invalid("the request body is not JSON") from None

    def api(path: str, methods: tuple[str, ...]):
        """An API route: auth, then injected faults, then the view; every call logged."""
        def register(view):
            def wrapped(**kwargs):
                if not authorised():
                    log_call(401)
                    return _json({"detail": "Invalid or missing API token"}, 401)
                fault = state.draw_fault()
                if fault is not None and not fault.after:
                    log_call(fault.status, injected=True)
                    return _fault_answer(fault)
                try:
                    response = view(**kwargs)
                except Invalid as exc:
                    response = _error(400, str(exc))
                if fault is not None:
                    log_call(fault.status, injected=True, done=response.status_code)
                    return _fault_answer(fault)
                log_call(response.status_code, **request.environ.get("sandbox.log", {}))
                return response
            wrapped.__name__ = f"api_{view.__name__}"
            for prefix in ("", PREFIX):
                app.add_url_rule(prefix + path, f"{view.__name__}{prefix}", wrapped, methods=list(methods))
            return view
        return register

    @api("/orders", ("POST",))
    def upsert():
        order = body()
        status, stored = state.upsert(order)
        request.environ["sandbox.log"] = {"codes": [order["code"]]}
        return _json(public(stored), status)

    @api("/orders/bulk", ("POST",))
    def bulk():
        orders = body()
        if not isinstance(orders, list):
            raise Invalid("the bulk body must be a JSON array of orders")
        if len(orders) > BULK_LIMIT:
            raise Invalid(f"A bulk request takes at most {BULK_LIMIT} orders, got {len(orders)}")
        results = []
        for index, order in enumerate(orders):
            code = order.get("code") if isinstance(order, dict) else None
            try:
                status, stored = state.upsert(order)
            except Invalid as exc:
                results.append({"index": index, "code": code, "status": "failed", "errors": [str(exc)]})
            else:
                results.append({"code": code, "id": stored["id"],
                                "status": "created" if status == 201 else "updated"})
        request.environ["sandbox.log"] = {"codes": [r["code"] for r in results]}
        if state.bulk_shape == "results":
            return _json({"results": results})
        if state.bulk_shape == "silent":
            return _json({"message": "Orders processed"})
        split: dict[str, list] = {"created": [], "updated": [], "failed": []}
        for result in results:
            entry = {k: v for k, v in result.items() if k != "status"}
            split[result["status"]].append(entry)
        return _json(split)

    @api("/orders/<order_id>/status", ("PATCH",))
    def set_status(order_id):
        value = request.args.get("status_value", "")
        if value not in RETINO_STATUSES:
            raise Invalid(f"Unknown status value {value!r}; expected one of {', '.join(RETINO_STATUSES)}")
        with state.lock:
            stored = state.find(order_id)
            if stored is None:
                return _error(404, f"Order {order_id} not found")
            entry = {"name": value, "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            stored["statuses"] = [*stored.get("statuses", []), entry]
            stored["_updated"] = time.time()
            return _json(public(stored))

    @api("/orders/<order_id>", ("PATCH",))
    def patch(order_id):
        changes = body()
        if not isinstance(changes, dict) or not changes:
            raise Invalid("a partial update must be a non-empty JSON object")
        with state.lock:
            stored = state.find(order_id)
            if stored is None:
                return _error(404, f"Order {order_id} not found")
            for key in ("store_id", "code", "id"):
                if key in changes and changes[key] != stored.get(key):
                    raise Invalid(f"{key} cannot be changed after an order is created")
            check_order(changes, partial=True)
            merged = _merge(stored, changes)
            check_order(public(merged))
            merged["_updated"] = time.time()
            merged["_writes"] = stored["_writes"] + 1
            state.orders[(stored["store_id"], stored["code"])] = merged
            return _json(public(merged))

    @api("/tracking-shipping", ("POST",))
    def shipment():
        if not state.shipments_endpoint:
            return _json({"detail": "Not Found"}, 404)
        data = body()
        if not isinstance(data, dict):
            raise Invalid("a shipment must be a JSON object")
        _check_text(data.get("order"), "order", required=True)
        _check_text(data.get("tracking_number"), "tracking_number", required=True)
        _check_text(data.get("carrier_hint"), "carrier_hint")
        if data.get("delivery_type", "TO_ADDRESS") not in DELIVERY_TYPES:
            raise Invalid(f"delivery_type must be one of {', '.join(DELIVERY_TYPES)}")
        with state.lock:
            if state.find(data["order"]) is None:
                return _error(404, f"Order {data['order']} not found")
            record = {**data, "id": str(uuid.uuid4())}
            state.shipments.append(record)
        return _json(record, 201)

    # -- control API ------------------------------------------------------------------
    def control(path: str, methods=("POST",)):
        def register(view):
            def wrapped():
                if not authorised():
                    return _json({"detail": "Invalid or missing API token"}, 401)
                return view()
            wrapped.__name__ = f"control_{view.__name__}"
            for prefix in ("", PREFIX):
                app.add_url_rule(f"{prefix}/_sandbox/{path}", f"control_{view.__name__}{prefix}", wrapped,
                                 methods=list(methods))
            return view
        return register

    @control("faults")
    def faults():
        changes = request.get_json(silent=True, force=True) or {}
        with state.lock:
            current = asdict(state.faults)
            unknown = set(changes) - set(current)
            if unknown:
                return _error(400, f"unknown fault settings: {', '.join(sorted(unknown))}")
            current.update(changes)
            state.faults = Faults(**current)
            state.rng = random.Random(state.faults.seed)
            return _json(asdict(state.faults))

    @control("settings")
    def settings():
        changes = request.get_json(silent=True, force=True) or {}
        with state.lock:
            if "bulk_shape" in changes:
                if changes["bulk_shape"] not in BULK_SHAPES:
                    return _error(400, f"bulk_shape must be one of {', '.join(BULK_SHAPES)}")
                state.bulk_shape = changes["bulk_shape"]
            if "store_ids" in changes:
                state.store_ids = set(changes["store_ids"])
            if "items_must_add_up" in changes:
                state.items_must_add_up = bool(changes["items_must_add_up"])
            if "shipments_endpoint" in changes:
                state.shipments_endpoint = bool(changes["shipments_endpoint"])
            return _json({"bulk_shape": state.bulk_shape, "store_ids": sorted(state.store_ids),
                          "items_must_add_up": state.items_must_add_up,
                          "shipments_endpoint": state.shipments_endpoint})

    @control("orders", methods=("GET",))
    def orders():
        with state.lock:
            return _json([{**public(o), "writes": o["_writes"]} for o in state.orders.values()])

    @control("shipments", methods=("GET",))
    def shipments():
        with state.lock:
            return _json(list(state.shipments))

    @control("calls", methods=("GET",))
    def calls():
        with state.lock:
            return _json(list(state.calls))

    @control("reset")
    def reset():
        state.reset()
        return _json({"ok": 1})

    return app


def _fault_answer(fault: Faults) -> Response:
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None and \
        (fault.status == 429 or fault.status == 503) else {}
    return _error(fault.status, "Too many requests" if fault.status == 429 else "Service temporarily unavailable",
                  headers)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class RetinoSandboxServer:
    """The simulator on a background thread, on 127.0.0.1 and a free port unless told otherwise.

    `url` is the API base to give RetinoClient (…/api/v2).
    """

    def __init__(self, *, token: str = "sandbox-token", store_ids: tuple[str, ...] = ("main-shop",),
                 host: str = "127.0.0.1", port: int = 0):
        self.token, self.store_ids = token, tuple(store_ids)
        self.app = create_retino_sandbox_app(token=token, store_ids=self.store_ids)
        self.server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.host, self.port = host, self.server.server_port
        self.url = f"http://{host}:{self.port}{PREFIX}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="retino-sandbox", daemon=True)

    def start(self) -> "RetinoSandboxServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "RetinoSandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def state(self) -> SandboxState:
        return self.app.config["RETINO_SANDBOX_STATE"]

    def control(self, path: str, body: Any = None) -> Any:
        """Call the control API over HTTP: GET without a body, POST with one (`{}` for none)."""
        url = f"{self.url}/_sandbox/{path}"
        headers = {"Authorization": self.token, "Content-Type": "application/json"}
        with httpx.Client(timeout=30) as http:
            response = http.get(url, headers=headers) if body is None else \
                http.post(url, headers=headers, content=jsonutil.dumps(body))
        response.raise_for_status()
        return jsonutil.loads(response.text)


@click.command("retino-sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8091, show_default=True)
@click.option("--token", default="sandbox-token", show_default=True, help="The API token the simulator accepts.")
@click.option("--store-id", "store_ids", multiple=True, default=("main-shop",), show_default=True,
              help="A store id the simulator knows (repeat for several).")
@click.option("--items-must-add-up", is_flag=True,
              help="Also refuse an order whose items' totals do not add up to its price (a stricter Retino).")
def retino_sandbox_command(host, port, token, store_ids, items_must_add_up):
    """Run the Retino Orders API simulator (POST /orders, /orders/bulk, statuses, shipments).

    \b
    Example:
      feedsvc retino-sandbox --port 8091 --store-id main-shop
      # in another shell, with the printed variables set:
      feedsvc push --dry-run && feedsvc push
      curl -H 'Authorization: sandbox-token' http://127.0.0.1:8091/api/v2/_sandbox/orders
    """
    server = RetinoSandboxServer(token=token, store_ids=store_ids, host=host, port=port)
    server.state.items_must_add_up = items_must_add_up
    click.echo(f"Retino Orders API simulator at {server.url} (control API under {server.url}/_sandbox/)")
    click.echo(f"FEEDSVC_RETINO_URL={server.url}")
    click.echo(f"FEEDSVC_RETINO_TOKEN={token}")
    click.echo(f"FEEDSVC_RETINO_STORE_ID={store_ids[0]}")
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
