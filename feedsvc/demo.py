"""`feedsvc demo` (what `make run` runs): the whole service on one machine, against the simulators.

It starts the Storeden simulator and the Retino Orders API simulator, syncs
the shop's orders, publishes a validated snapshot, pushes the orders to the
Retino simulator (push mode), and serves the feed over HTTPS from gunicorn
with a self-signed certificate; then prints the feed URL and the credentials
to paste into Retino, a `curl` line that fetches the feed, and one that lists
what reached the Retino simulator. While it runs, the simulated shop moves
(a new order, a status change, a parcel every `--changes-every` seconds) and
the worker loop syncs, publishes and pushes every minute, as `feedsvc sync
--forever` does with push on, so both modes can be watched on the dashboard.
The feed token and password are made once and kept in the demo's data
directory, so the URL stays the same from one run to the next.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import httpx

from feedsvc import jsonutil
from feedsvc.config import load_settings

DEMO_USER = "retino"
DEMO_RETINO_TOKEN = "demo-retino-token"  # the local simulator's; a real one comes from Retino's Settings → API v2
DEMO_STORE_ID = "demo-shop"


def _demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's token and password: made on the first run, reused afterwards."""
    path = data_dir / "demo-secrets.json"
    if path.is_file():
        return jsonutil.loads(path.read_text())
    values = {"token": secrets.token_hex(32), "password": secrets.token_urlsafe(18)}
    path.write_text(jsonutil.dumps(values))
    path.chmod(0o600)
    return values


def _start_afresh(data_dir: Path) -> None:
    """Forget the orders of an earlier demo run: each run's simulated shop is new (its order ids and dates
    follow the clock), and so is its Retino simulator. Only a directory the demo made (it holds the demo's
    secrets) is touched; the secrets and the certificate stay, so the feed URL does not change."""
    if not (data_dir / "demo-secrets.json").is_file():
        return
    for name in ("feedsvc.sqlite3", "feedsvc.sqlite3-wal", "feedsvc.sqlite3-shm"):
        (data_dir / name).unlink(missing_ok=True)
    shutil.rmtree(data_dir / "snapshots", ignore_errors=True)


def _wait_until_serving(url: str, cafile: Path, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"gunicorn exited with code {process.returncode}; see its log above")
        try:
            httpx.get(url, verify=ssl.create_default_context(cafile=str(cafile)), timeout=2.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise click.ClickException(f"gunicorn did not answer on {url} within {timeout:.0f}s")


def _print_banner(base: str, values: dict[str, str], cert: Path, result_line: str, report_line: str,
                  push_lines: list[str]) -> None:
    token_url = f"{base}/feed/{values['token']}.xml"
    click.echo("")
    click.echo(click.style("feedsvc demo: feed mode and push mode, both on", bold=True))
    click.echo(f"  {result_line}")
    click.echo(f"  {report_line}")
    for line in push_lines:
        click.echo(f"  {line}")
    click.echo("")
    click.echo(click.style("Feed mode", bold=True) + ": Retino downloads the feed over HTTPS.")
    click.echo("Paste into Retino (Settings → Orders → XML feed), either:")
    click.echo(f"  URL with Basic auth:  {base}/feed.xml")
    click.echo(f"      user:             {DEMO_USER}")
    click.echo(f"      password:         {values['password']}")
    click.echo(f"  or the secret URL:    {token_url}")
    click.echo("")
    click.echo("Fetch it yourself:")
    click.echo(f"  curl --cacert {shlex.quote(str(cert))} -u {DEMO_USER}:{shlex.quote(values['password'])} "
               f"{base}/feed.xml -o feed.xml")
    click.echo(f"Dashboard: {base}/   (same user and password; the Retino push card shows the push state)")
    click.echo("(The certificate is self-signed for the demo; production uses a real one, see README.)")


@click.command("demo")
@click.option("--orders", default=150, show_default=True, help="Orders in the simulated shop.")
@click.option("--port", default=8443, show_default=True, help="HTTPS port on 127.0.0.1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo keeps its store and snapshots (default: $FEEDSVC_DATA_DIR/demo or ./var/demo).")
@click.option("--rate", default="20/1", show_default=True,
              help="Simulator throttle, REQUESTS/SECONDS (the real Storeden allows 5/60).")
@click.option("--changes-every", default=120, show_default=True, type=click.IntRange(min=0),
              help="Seconds between changes in the simulated shop (a new order, a status change, a parcel); 0: none.")
@click.option("--check", is_flag=True,
              help="Fetch and validate the served feed, check the push (first and after a change), then stop (for CI).")
def demo_command(orders: int, port: int, data_dir: Path | None, rate: str, changes_every: int, check: bool) -> None:
    """Run the simulators, sync, publish, push, and serve the feed over HTTPS on this machine.

    \b
    Example:
      feedsvc demo              # then paste the printed URL and credentials into Retino
      feedsvc demo --check      # start everything, check the feed and the push, stop
    """
    from feedsvc.pipeline import run_pipeline
    from feedsvc.retino.api_sandbox import RetinoSandboxServer
    from feedsvc.retino.validate import validate_path
    from feedsvc.storeden.sandbox import SandboxServer
    from feedsvc.tls import ensure_self_signed

    requests, _, seconds = rate.partition("/")
    sandbox_rate = (int(requests), float(seconds or 1))
    if data_dir is None:
        data_dir = Path(os.environ.get("FEEDSVC_DATA_DIR", "./var")) / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    _start_afresh(data_dir)
    values = _demo_secrets(data_dir)
    cert, key = ensure_self_signed(data_dir)

    with SandboxServer(orders=orders, seed=1, rate=sandbox_rate) as sandbox, \
            RetinoSandboxServer(token=DEMO_RETINO_TOKEN, store_ids=(DEMO_STORE_ID,)) as retino:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")},
            "FEEDSVC_DATA_DIR": str(data_dir.resolve()),
            "FEEDSVC_STOREDEN_URL": sandbox.url,
            "FEEDSVC_STOREDEN_KEY": sandbox.key,
            "FEEDSVC_STOREDEN_EXCHANGE": sandbox.exchange,
            "FEEDSVC_STOREDEN_RATE": f"{sandbox_rate[0]}/{sandbox_rate[1]:g}",
            "FEEDSVC_FEED_TOKEN": values["token"],
            "FEEDSVC_FEED_USER": DEMO_USER,
            "FEEDSVC_FEED_PASSWORD": values["password"],
            "FEEDSVC_TLS_CERT": str(cert.resolve()),
            "FEEDSVC_TLS_KEY": str(key.resolve()),
            "FEEDSVC_BIND": f"127.0.0.1:{port}",
            # push mode, to the Retino simulator; the sync interval is push mode's default (60 s)
            "FEEDSVC_RETINO_URL": retino.url,
            "FEEDSVC_RETINO_TOKEN": DEMO_RETINO_TOKEN,
            "FEEDSVC_RETINO_STORE_ID": DEMO_STORE_ID,
        }
        settings = load_settings(env)
        click.echo(f"Storeden simulator: {orders} orders at {sandbox.url} (throttle {rate})", err=True)
        click.echo(f"Retino Orders API simulator: {retino.url} (store id {DEMO_STORE_ID})", err=True)
        outcome = run_pipeline(settings, progress=sys.stderr.isatty(), command="feedsvc demo")
        if outcome.publish_error:
            raise click.ClickException(outcome.publish_error)
        if outcome.push_error:
            raise click.ClickException(outcome.push_error)
        sync_result = outcome.sync
        report = validate_path(outcome.build.snapshot_dir / "feed.xml", days=settings.days)
        report_line = (f"validated: {report.orders} orders, {report.errors} errors, "
                       f"{report.warnings} warnings against schema/retino-feed.xsd")

        root = Path(__file__).resolve().parent.parent
        gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(root / "gunicorn.conf.py"), "wsgi:app"]
        server = subprocess.Popen(gunicorn, cwd=root, env=env)
        stop = threading.Event()
        try:
            base = f"https://127.0.0.1:{port}"
            _wait_until_serving(f"{base}/healthz", cert, server)
            _print_banner(base, values, cert, f"synced: {sync_result.summary()}", report_line,
                          _push_lines(settings, retino, outcome.push, changes_every))
            if check:
                _check_served(base, values, cert, data_dir)
                _check_pushed(settings, sandbox, retino, outcome.build.snapshot_dir / "feed.xml")
                return
            _keep_fresh(settings, stop)
            if changes_every:
                _keep_shop_moving(sandbox, changes_every, stop)
            click.echo("\nPress Ctrl-C to stop.")
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            while not stop.is_set() and server.poll() is None:
                stop.wait(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def _push_lines(settings, retino, result, changes_every: int) -> list[str]:
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


def _keep_shop_moving(sandbox, every: int, stop: threading.Event) -> None:
    """Move the simulated shop now and then, so the feed and the pushes have something to show."""
    def move() -> None:
        while not stop.wait(every):
            sandbox.shop.advance(new_orders=1, status_changes=1, new_tracking=1)

    threading.Thread(target=move, name="feedsvc-demo-shop", daemon=True).start()


def _keep_fresh(settings, stop: threading.Event) -> None:
    """Keep syncing and publishing in the background, as `feedsvc sync --forever` does in production."""
    from feedsvc.pipeline import run_forever

    thread = threading.Thread(target=run_forever, args=(settings,), kwargs={"stop_event": stop},
                              name="feedsvc-sync", daemon=True)
    thread.start()


def _check_served(base: str, values: dict[str, str], cert: Path, data_dir: Path) -> None:
    """Fetch the feed the way Retino will and validate what came back."""
    from feedsvc.retino.validate import validate_bytes

    response = httpx.get(f"{base}/feed.xml", auth=(DEMO_USER, values["password"]),
                         verify=ssl.create_default_context(cafile=str(cert)), timeout=60)
    if response.status_code != 200:
        raise click.ClickException(f"the served feed answered {response.status_code}")
    report = validate_bytes(response.content)
    target = data_dir / "feed.xml"
    target.write_bytes(response.content)
    click.echo(f"\ncheck: fetched {len(response.content)} bytes over HTTPS into {target}; "
               f"{report.orders} orders, {report.errors} errors, {report.warnings} warnings")
    if not report.valid:
        raise click.ClickException("the served feed is not valid")


def _feed_orders(feed_path: Path) -> dict:
    from lxml import etree

    return {order.findtext("CODE"): order for order in etree.parse(str(feed_path)).getroot().iterfind("ORDER")}


def _check_pushed(settings, sandbox, retino, feed_path: Path) -> None:
    """Every order of the feed is in the Retino simulator with the feed's CODE, total and e-mail; after a
    change in the shop, one more cycle pushes the orders that changed, and only orders whose feed entry or
    status changed."""
    from lxml import etree

    from feedsvc.pipeline import run_pipeline

    feed = _feed_orders(feed_path)
    arrived = {order["code"]: order for order in retino.control("orders")}
    if set(arrived) != set(feed):
        raise click.ClickException(f"push check: the feed has {len(feed)} orders, the Retino simulator "
                                   f"{len(arrived)}; {len(set(feed) ^ set(arrived))} differ")
    for code, order in feed.items():
        sent = arrived[code]
        if sent["price"]["with_vat"] != order.findtext("TOTAL_PRICE/WITH_VAT") or \
                sent.get("customer", {}).get("email") != (order.findtext("CUSTOMER/EMAIL") or None):
            raise click.ClickException(f"push check: order {code} differs between the feed and Retino")
    calls_before = len(retino.control("calls"))
    touched = sandbox.shop.advance(new_orders=1, status_changes=2, new_tracking=1)
    outcome = run_pipeline(settings, command="feedsvc demo --check")
    if outcome.push_error or outcome.publish_error:
        raise click.ClickException(f"push check: {outcome.push_error or outcome.publish_error}")
    new_feed = _feed_orders(outcome.build.snapshot_dir / "feed.xml")
    calls = retino.control("calls")[calls_before:]
    sent = {code for call in calls for code in call.get("codes", [])}
    changed = {sandbox.shop.orders[order_id].short_id for ids in touched.values() for order_id in ids} & set(new_feed)
    # the sync may also learn more about other orders (a filter entry carries the locale a list entry lacks)
    rewritten = {code for code, order in new_feed.items()
                 if code not in feed or etree.tostring(order) != etree.tostring(feed[code])}
    if not changed <= sent or not sent <= changed | rewritten:
        raise click.ClickException(f"push check: after the shop changed {sorted(changed)}, the push sent "
                                   f"{sorted(sent)}")
    click.echo(f"check: all {len(feed)} orders of the feed are in the Retino simulator and agree; after "
               f"{len(changed)} orders changed in the shop, the next cycle pushed {len(sent)} "
               f"({outcome.push.summary()})")
