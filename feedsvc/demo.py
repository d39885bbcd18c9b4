"""The pieces of `feedsvc demo` (what `make run` runs): the whole service on one machine, against the simulators.

The demo's environment points every setting at the Storeden simulator, the
Retino Orders API simulator (push mode, so the worker syncs and pushes every
minute), a self-signed certificate and the demo's own data directory; its
token and password are made once and kept there, so the URL stays the same
from one run to the next, while the orders of an earlier run are forgotten
(each run's simulated shop and Retino are new). While it runs, the simulated
shop moves now and then, so both modes have something to show. gunicorn is started from the installed package
(`python:feedsvc.gunicorn_conf`, `feedsvc.wsgi:app`), so the demo runs from
any directory, in a checkout or after `pip install`. Once it serves, the
demo downloads the feed once the way Retino will (`fetch_once_like_retino`,
by the agent `feedsvc-demo`), so the dashboard's Delivery card shows a fetch.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import httpx

from feedsvc import __version__, jsonutil
from feedsvc.config import Settings

DEMO_USER = "retino"
DEMO_RETINO_TOKEN = "demo-retino-token"  # the local simulator's; a real one comes from Retino's Settings → API v2
DEMO_STORE_ID = "demo-shop"
DEMO_USER_AGENT = f"feedsvc-demo/{__version__} (one download at start, the way Retino fetches the feed)"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:feedsvc.gunicorn_conf", "feedsvc.wsgi:app"]


class DemoError(RuntimeError):
    """The demo could not start or its feed did not check out; the message says why."""


def demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's token and password: made on the first run, reused afterwards."""
    path = data_dir / "demo-secrets.json"
    if path.is_file():
        return jsonutil.loads(path.read_text())
    values = {"token": secrets.token_hex(32), "password": secrets.token_urlsafe(18)}
    path.write_text(jsonutil.dumps(values))
    path.chmod(0o600)
    return values


def start_afresh(data_dir: Path) -> None:
    """Forget the orders of an earlier demo run: each run's simulated shop is new (its order ids and dates
    follow the clock), and so is its Retino simulator. Only a directory the demo made (it holds the demo's
    secrets) is touched; the secrets and the certificate stay, so the feed URL does not change."""
    if not (data_dir / "demo-secrets.json").is_file():
        return
    for name in ("feedsvc.sqlite3", "feedsvc.sqlite3-wal", "feedsvc.sqlite3-shm"):
        (data_dir / name).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "snapshots", ignore_errors=True)


def demo_environment(*, sandbox, retino, data_dir: Path, values: dict[str, str], tls: tuple[Path, Path],
                     port: int) -> dict[str, str]:
    """This process's environment without its FEEDSVC_* settings, and the demo's settings instead."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")},
        "FEEDSVC_DATA_DIR": str(data_dir.resolve()),
        "FEEDSVC_STOREDEN_URL": sandbox.url,
        "FEEDSVC_STOREDEN_KEY": sandbox.key,
        "FEEDSVC_STOREDEN_EXCHANGE": sandbox.exchange,
        "FEEDSVC_STOREDEN_RATE": str(sandbox.rate),
        "FEEDSVC_FEED_TOKEN": values["token"],
        "FEEDSVC_FEED_USER": DEMO_USER,
        "FEEDSVC_FEED_PASSWORD": values["password"],
        "FEEDSVC_TLS_CERT": str(tls[0].resolve()),
        "FEEDSVC_TLS_KEY": str(tls[1].resolve()),
        "FEEDSVC_BIND": f"127.0.0.1:{port}",
        # push mode, to the Retino simulator; the sync interval is push mode's default (60 s)
        "FEEDSVC_RETINO_URL": retino.url,
        "FEEDSVC_RETINO_TOKEN": DEMO_RETINO_TOKEN,
        "FEEDSVC_RETINO_STORE_ID": DEMO_STORE_ID,
    }


def start_web(env: dict[str, str], data_dir: Path) -> subprocess.Popen:
    """gunicorn with the demo's settings; it runs in the data dir, so no other `.env` is read."""
    return subprocess.Popen(GUNICORN, cwd=data_dir, env=env)


def wait_until_serving(url: str, cafile: Path, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"gunicorn exited with code {process.returncode}; see its log above")
        try:
            httpx.get(url, verify=ssl.create_default_context(cafile=str(cafile)), timeout=2.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise DemoError(f"gunicorn did not answer on {url} within {timeout:.0f}s")


def fetch_once_like_retino(base: str, values: dict[str, str], cert: Path) -> str:
    """Download the feed once, as Retino will every 6 hours, so the dashboard's Delivery card shows a fetch."""
    try:
        response = httpx.get(f"{base}/feed.xml", auth=(DEMO_USER, values["password"]),
                             headers={"User-Agent": DEMO_USER_AGENT, "Accept-Encoding": "gzip"},
                             verify=ssl.create_default_context(cafile=str(cert)), timeout=60)
    except httpx.HTTPError as exc:
        return f"fetched: the demo's own download failed ({type(exc).__name__}); see the Delivery page"
    return (f"fetched: the feed once, as Retino would ({response.status_code}, {len(response.content):,} bytes of "
            "XML); the dashboard's Delivery card shows it")


def banner(base: str, values: dict[str, str], cert: Path, result_lines: list[str],
           push_lines: list[str]) -> list[str]:
    """Both modes: what to paste into Retino and how to fetch the feed by hand; where the pushed orders are."""
    return [
        "",
        click.style("feedsvc demo: feed mode and push mode, both on", bold=True),
        *(f"  {line}" for line in result_lines),
        *(f"  {line}" for line in push_lines),
        "",
        click.style("Feed mode", bold=True) + ": Retino downloads the feed over HTTPS.",
        "Paste into Retino (Settings → Orders → XML feed), either:",
        f"  URL with Basic auth:  {base}/feed.xml",
        f"      user:             {DEMO_USER}",
        f"      password:         {values['password']}",
        f"  or the secret URL:    {base}/feed/{values['token']}.xml",
        "",
        "Fetch it yourself:",
        f"  curl --cacert {shlex.quote(str(cert))} -u {DEMO_USER}:{shlex.quote(values['password'])} "
        f"{base}/feed.xml -o feed.xml",
        f"Dashboard: {base}/   (same user and password; the Retino push card shows the push state)",
        "(The certificate is self-signed for the demo; production uses a real one, see README.)",
    ]


def push_lines(settings: Settings, retino, result, changes_every: int) -> list[str]:
    """What the first push did, and where to see what reached the Retino simulator."""
    arrived = len(retino.control("orders"))
    lines = [f"pushed: {result.summary()}",
             "",
             click.style("Push mode", bold=True) + f": {arrived} orders are in the Retino Orders API simulator at "
                                                   f"{retino.url} (store id {DEMO_STORE_ID}).",
             f"After each sync (every {settings.sync_interval} s) the orders that changed are pushed, so a "
             f"change reaches Retino within about {settings.sync_interval} s.",
             "See what arrived:",
             f"  curl -H 'Authorization: {DEMO_RETINO_TOKEN}' {retino.url}/_sandbox/orders",
             f"  curl -H 'Authorization: {DEMO_RETINO_TOKEN}' {retino.url}/_sandbox/calls"]
    if changes_every:
        lines.append(f"The simulated shop gets a new order, a status change and a parcel every {changes_every} s.")
    return lines


def keep_shop_moving(sandbox, every: int, stop: threading.Event) -> None:
    """Move the simulated shop now and then, so the feed and the pushes have something to show."""
    def move() -> None:
        while not stop.wait(every):
            sandbox.shop.advance(new_orders=1, status_changes=1, new_tracking=1)

    threading.Thread(target=move, name="feedsvc-demo-shop", daemon=True).start()


def keep_fresh(settings: Settings, stop: threading.Event) -> None:
    """Keep syncing and publishing in the background, as `feedsvc sync --forever` does in production."""
    from feedsvc.pipeline import run_forever

    thread = threading.Thread(target=run_forever, args=(settings,), kwargs={"stop_event": stop},
                              name="feedsvc-sync", daemon=True)
    thread.start()


def check_served(base: str, values: dict[str, str], cert: Path, data_dir: Path) -> tuple[str, bool]:
    """Fetch the feed the way Retino will and validate what came back: (what was found, whether it is valid)."""
    from feedsvc.retino.validate import validate_bytes

    response = httpx.get(f"{base}/feed.xml", auth=(DEMO_USER, values["password"]),
                         verify=ssl.create_default_context(cafile=str(cert)), timeout=60)
    if response.status_code != 200:
        raise DemoError(f"the served feed answered {response.status_code}")
    report = validate_bytes(response.content)
    target = data_dir / "feed.xml"
    target.write_bytes(response.content)
    line = (f"\ncheck: fetched {len(response.content)} bytes over HTTPS into {target}; "
            f"{report.orders} orders, {report.errors} errors, {report.warnings} warnings")
    return line, report.valid


def _feed_orders(feed_path: Path) -> dict:
    from lxml import etree

    return {order.findtext("CODE"): order for order in etree.parse(str(feed_path)).getroot().iterfind("ORDER")}


def check_pushed(settings: Settings, sandbox, retino, feed_path: Path) -> str:
    """Every order of the feed is in the Retino simulator with the feed's CODE, total and e-mail; after a
    change in the shop, one more cycle pushes the orders that changed, and only orders whose feed entry or
    status changed. Returns what was found; DemoError when it does not hold."""
    from lxml import etree

    from feedsvc.pipeline import run_pipeline

    feed = _feed_orders(feed_path)
    arrived = {order["code"]: order for order in retino.control("orders")}
    if set(arrived) != set(feed):
        raise DemoError(f"push check: the feed has {len(feed)} orders, the Retino simulator {len(arrived)}; "
                        f"{len(set(feed) ^ set(arrived))} differ")
    for code, order in feed.items():
        sent = arrived[code]
        if sent["price"]["with_vat"] != order.findtext("TOTAL_PRICE/WITH_VAT") or \
                sent.get("customer", {}).get("email") != (order.findtext("CUSTOMER/EMAIL") or None):
            raise DemoError(f"push check: order {code} differs between the feed and Retino")
    calls_before = len(retino.control("calls"))
    touched = sandbox.shop.advance(new_orders=1, status_changes=2, new_tracking=1)
    outcome = run_pipeline(settings, command="feedsvc demo --check")
    if outcome.push_error or outcome.publish_error:
        raise DemoError(f"push check: {outcome.push_error or outcome.publish_error}")
    assert outcome.build is not None and outcome.push is not None  # it published and pushed, without error
    new_feed = _feed_orders(outcome.build.snapshot_dir / "feed.xml")
    calls = retino.control("calls")[calls_before:]
    sent_codes = {code for call in calls for code in call.get("codes", [])}
    changed = {sandbox.shop.orders[order_id].short_id for ids in touched.values() for order_id in ids} & set(new_feed)
    # the sync may also learn more about other orders (a filter entry carries the locale a list entry lacks)
    rewritten = {code for code, order in new_feed.items()
                 if code not in feed or etree.tostring(order) != etree.tostring(feed[code])}
    if not changed <= sent_codes or not sent_codes <= changed | rewritten:
        raise DemoError(f"push check: after the shop changed {sorted(changed)}, the push sent {sorted(sent_codes)}")
    return (f"check: all {len(feed)} orders of the feed are in the Retino simulator and agree; after "
            f"{len(changed)} orders changed in the shop, the next cycle pushed {len(sent_codes)} "
            f"({outcome.push.summary()})")
