"""A Storeden-compatible simulator: the Orders API v1.1 read endpoints over a generated Shop.

It answers with the document's shapes (bare arrays, `orders_filter.json`'s
wrapper, both `cart.items` forms), checks the `key`/`exchange` headers,
throttles like the real API (429 and `X-Storeden-Limit`), and can inject
faults (errors, 429 storms, latency). Tests and the demo drive it over real
sockets; a control API under `/_sandbox/` moves the shop forward.
"""

from __future__ import annotations

import collections
import hmac
import random
import threading
import time
from dataclasses import asdict, dataclass

import click
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

from feedsvc import jsonutil
from feedsvc.storeden.shop import (CHECKOUT_METHODS, COUNTRY_NAMES, COUNTRY_UIDS, COURIERS, STATUSES, Shop,
                                   iso_with_offset)

PREFIX = "/v1.1"
HOLD_LIMIT = 300  # seconds a held request waits at most, so a forgotten hold cannot hang a test run


@dataclass
class Faults:
    error_rate: float = 0.0
    throttle_storm_rate: float = 0.0
    timeout_rate: float = 0.0
    latency: float = 0.0
    seed: int = 7


class SlidingWindow:
    """The server side of the throttle: N requests in any S seconds."""

    def __init__(self, requests: int, seconds: float):
        self.requests, self.seconds = requests, seconds
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int]:
        with self.lock:
            now = time.monotonic()
            while self.sent and self.sent[0] <= now - self.seconds:
                self.sent.popleft()
            if len(self.sent) >= self.requests:
                return False, 0
            self.sent.append(now)
            return True, self.requests - len(self.sent)


def _json(value, status: int = 200, headers: dict | None = None) -> Response:
    return Response(jsonutil.dumps(value), status=status, mimetype="application/json", headers=headers or {})


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return _json({"error": {"message": message}}, status, headers)


def _int_arg(name: str, default: int | None = None) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return None


def create_sandbox_app(shop: Shop, *, key: str = "sandbox-key", exchange: str = "sandbox-exchange",
                       rate: tuple[int, float] = (5, 60.0), retry_after: bool = False) -> Flask:
    app = Flask("feedsvc.sandbox")
    state = {"window": SlidingWindow(*rate), "faults": Faults(), "rng": random.Random(7),
             "stats": collections.Counter(), "retry_after": retry_after,
             "open": threading.Event(), "held": threading.Event()}
    state["open"].set()
    lock = threading.Lock()

    def authorised() -> bool:
        return hmac.compare_digest(request.headers.get("key", ""), key) and \
            hmac.compare_digest(request.headers.get("exchange", ""), exchange)

    def gate(endpoint: str) -> Response | None:
        """Auth, faults and the throttle, in the order the real service would apply them."""
        if not state["open"].is_set():  # tests hold the shop still while they look at a sync in flight
            state["held"].set()
            state["open"].wait(timeout=HOLD_LIMIT)
        if not authorised():
            state["stats"]["401"] += 1
            return _error(401, "Invalid key or exchange")
        faults: Faults = state["faults"]
        with lock:
            roll_storm, roll_error, roll_timeout = (state["rng"].random() for _ in range(3))
        if faults.latency:
            time.sleep(faults.latency)
        window: SlidingWindow = state["window"]
        quota = window.requests
        if roll_storm < faults.throttle_storm_rate:
            state["stats"]["429_storm"] += 1
            return _error(429, "Too Much Requests", {"X-Storeden-Limit": f"0/{quota}"})
        allowed, left = window.take()
        if not allowed:
            state["stats"]["429"] += 1
            headers = {"X-Storeden-Limit": f"0/{quota}"}
            if state["retry_after"]:
                headers["Retry-After"] = str(max(1, int(window.seconds)))
            return _error(429, "Too Much Requests", headers)
        state["stats"][endpoint] += 1
        state["stats"]["requests"] += 1
        request.environ["sandbox.left"] = f"{left}/{quota}"
        if roll_timeout < faults.timeout_rate:
            time.sleep(max(faults.latency, 2.0))
            state["stats"]["timeouts"] += 1
            return _error(504, "Gateway Timeout")
        if roll_error < faults.error_rate:
            state["stats"]["500"] += 1
            return _error(500, "Internal Server Error")
        return None

    @app.after_request
    def limit_header(response: Response) -> Response:
        left = request.environ.get("sandbox.left")
        if left and "X-Storeden-Limit" not in response.headers:
            response.headers["X-Storeden-Limit"] = left
        return response

    def route(path: str):
        def register(view):
            name = path.strip("/").replace("/", "_").replace(".", "_")

            def wrapped():
                refused = gate(path)
                return refused if refused is not None else view()
            wrapped.__name__ = f"api_{name}"
            for prefix in ("", PREFIX):
                app.add_url_rule(prefix + path, f"{name}{prefix}", wrapped, methods=["GET"])
            return view
        return register

    def nodes() -> set[str]:
        return {n.strip() for n in request.args.get("nodes", "").split(",") if n.strip()}

    def find(order_id: str | None):
        return shop.orders.get(order_id or "")

    @route("/orders/list.json")
    def list_orders():
        limit, skip = _int_arg("limit", 10), _int_arg("skip", 0)
        since, start, end = _int_arg("since"), _int_arg("from"), _int_arg("to")
        status = _int_arg("status")
        if limit is None or skip is None or limit < 1 or skip < 0:
            return _error(400, "limit and skip must be whole numbers")
        if (start is None) != (end is None):
            return _error(400, "from and to must be used together")
        wanted = set(request.args.getlist("orderID[]"))
        orders = shop.by_date()
        if since is not None:
            orders = [o for o in orders if o.ts > since]
        if start is not None:
            orders = [o for o in orders if start < o.ts < end]
        if status is not None:
            orders = [o for o in orders if o.status == status]
        if wanted:
            orders = [o for o in orders if o.order_id in wanted]
        chosen = nodes()
        return _json([shop.summary(o, chosen) for o in orders[skip:skip + min(limit, 500)]])

    @route("/orders/orders_filter.json")
    def orders_filter():
        start = _int_arg("updated_from")
        if start is None:
            return _error(400, "updated_from is required")
        end = _int_arg("updated_to") or int(time.time()) + 1
        changed = shop.changed_between(start, end)
        return _json({"count": len(changed),
                      "filter": {"updated_from": iso_with_offset(start, colon=True),
                                 "updated_to": iso_with_offset(end, colon=True)},
                      "orders": [shop.summary(o, nodes(), with_events=True) for o in changed]})

    @route("/orders/order.json")
    def order_detail():
        order = find(request.args.get("orderID"))
        return _json(order.order) if order else _error(404, "Order not found")

    @route("/orders/legacy_order.json")
    def legacy_order():
        order = find(request.args.get("orderID"))
        return _json(shop.legacy(order)) if order else _error(404, "Order not found")

    @route("/orders/tracking.json")
    def tracking():
        order = find(request.args.get("orderID"))
        if order is None:
            return _error(404, "Order not found")
        return _json(order.tracking) if order.tracking else _error(404, "No tracking for this order")

    @route("/orders/timeline.json")
    def timeline():
        order = find(request.args.get("orderID"))
        if order is None:
            return _error(404, "Order not found")
        return _json([{"status": order.status, "ip": "127.0.0.1", "ts": e.ts,
                       "iso_date": iso_with_offset(e.ts, colon=True)} for e in order.events])

    @route("/orders/checkoutMethods.json")
    def checkout_methods():
        return _json(CHECKOUT_METHODS)

    @route("/orders/statuses.json")
    def statuses():
        return _json(STATUSES)

    @route("/orders/couriers.json")
    def couriers():
        return _json(COURIERS)

    @route("/countries/list.json")
    def countries():
        return _json([{"uid": uid, "iso_code": iso, "name": COUNTRY_NAMES[iso]} for uid, iso in COUNTRY_UIDS.items()])

    # -- control API (tests and demo) -------------------------------------------
    def control(path: str, methods=("POST",)):
        def register(view):
            def wrapped():
                if not authorised():
                    return _error(401, "Invalid key or exchange")
                return view()
            wrapped.__name__ = f"control_{path.replace('/', '_')}"
            for prefix in ("", PREFIX):
                app.add_url_rule(f"{prefix}/_sandbox/{path}", f"control_{path}{prefix}", wrapped,
                                 methods=list(methods))
            return view
        return register

    @control("advance")
    def advance():
        body = request.get_json(silent=True) or {}
        return _json(shop.advance(**{k: body[k] for k in ("new_orders", "status_changes", "new_tracking", "now")
                                     if k in body}))

    @control("faults")
    def faults():
        body = request.get_json(silent=True) or {}
        current = asdict(state["faults"])
        current.update({k: v for k, v in body.items() if k in current})
        state["faults"] = Faults(**current)
        state["rng"] = random.Random(state["faults"].seed)
        return _json(asdict(state["faults"]))

    @control("corrupt")
    def corrupt():
        body = request.get_json(silent=True) or {}
        try:
            shop.corrupt(body.get("orderID", ""), body.get("kind", ""))
        except (KeyError, ValueError) as exc:
            return _error(400, str(exc))
        return _json({"ok": 1})

    @control("rate")
    def set_rate():
        body = request.get_json(silent=True) or {}
        state["window"] = SlidingWindow(int(body.get("requests", 5)), float(body.get("seconds", 60)))
        return _json({"requests": state["window"].requests, "seconds": state["window"].seconds})

    @control("stats", methods=("GET",))
    def stats():
        return _json(dict(state["stats"]))

    @control("stats/reset")
    def reset_stats():
        state["stats"].clear()
        return _json({"ok": 1})

    app.config["SANDBOX_STATE"] = state
    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class SandboxServer:
    """The simulator on a background thread, on 127.0.0.1 and a free port unless told otherwise."""

    def __init__(self, shop: Shop | None = None, *, orders: int = 200, seed: int = 1,
                 rate: tuple[int, float] = (5, 60.0), host: str = "127.0.0.1", port: int = 0,
                 key: str = "sandbox-key", exchange: str = "sandbox-exchange", retry_after: bool = False):
        self.shop = shop or Shop(seed=seed, orders=orders)
        self.key, self.exchange = key, exchange
        self.app = create_sandbox_app(self.shop, key=key, exchange=exchange, rate=rate, retry_after=retry_after)
        self.server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.host, self.port = host, self.server.server_port
        self.url = f"http://{host}:{self.port}{PREFIX}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="storeden-sandbox", daemon=True)

    def start(self) -> "SandboxServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def state(self) -> dict:
        return self.app.config["SANDBOX_STATE"]

    def stats(self) -> dict:
        return dict(self.state["stats"])

    def reset_stats(self) -> None:
        self.state["stats"].clear()

    def set_faults(self, **faults) -> None:
        current = asdict(self.state["faults"])
        current.update(faults)
        self.state["faults"] = Faults(**current)
        self.state["rng"] = random.Random(self.state["faults"].seed)

    def set_rate(self, requests: int, seconds: float) -> None:
        self.state["window"] = SlidingWindow(requests, seconds)

    def hold(self) -> None:
        """Make every API request wait until release(): a sync in flight stays in flight."""
        self.state["held"].clear()
        self.state["open"].clear()

    def wait_until_held(self, timeout: float = 120.0) -> bool:
        """Whether a request arrived and is waiting, within `timeout` seconds."""
        return self.state["held"].wait(timeout)

    def release(self) -> None:
        self.state["open"].set()


def _parse_rate(value: str) -> tuple[int, float]:
    count, _, seconds = value.partition("/")
    try:
        parsed = int(count), float(seconds)
    except ValueError:
        raise click.BadParameter("expected REQUESTS/SECONDS such as 5/60") from None
    if parsed[0] < 1 or parsed[1] <= 0:
        raise click.BadParameter("both numbers must be positive")
    return parsed


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True)
@click.option("--orders", default=200, show_default=True, help="Orders in the generated shop (last 10 days).")
@click.option("--seed", default=1, show_default=True, help="Same seed, same shop.")
@click.option("--rate", default="5/60", show_default=True, help="Throttle as REQUESTS/SECONDS, like Storeden's.")
@click.option("--key", default="sandbox-key", show_default=True)
@click.option("--exchange", default="sandbox-exchange", show_default=True)
@click.option("--error-rate", default=0.0, help="Fraction of requests answered 500.")
@click.option("--latency", default=0.0, help="Seconds to wait before each answer.")
def sandbox_command(host, port, orders, seed, rate, key, exchange, error_rate, latency):
    """Run the Storeden simulator: a generated shop behind the Orders API v1.1.

    \b
    Example:
      feedsvc sandbox --orders 500 --rate 60/60
      # in another shell, with the printed variables set:
      feedsvc sync && feedsvc render -o feed.xml
    """
    server = SandboxServer(orders=orders, seed=seed, rate=_parse_rate(rate), host=host, port=port,
                           key=key, exchange=exchange)
    server.set_faults(error_rate=error_rate, latency=latency)
    click.echo(f"Storeden simulator with {orders} orders at {server.url}")
    click.echo(f"FEEDSVC_STOREDEN_URL={server.url}")
    click.echo(f"FEEDSVC_STOREDEN_KEY={key}")
    click.echo(f"FEEDSVC_STOREDEN_EXCHANGE={exchange}")
    click.echo(f"FEEDSVC_STOREDEN_RATE={rate}")
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
