"""`feedsvc demo` (what `make run` runs): the whole service on one machine, against the simulator.

It starts the Storeden simulator, syncs its orders, publishes a validated
snapshot, and serves it over HTTPS from gunicorn with a self-signed
certificate, then downloads the feed once the way Retino will (so the
dashboard's Delivery card shows a fetch, by the agent `feedsvc-demo`), and
prints the feed URL and the credentials to paste into Retino and a `curl`
line that fetches the feed. The token and password are
made once and kept in the demo's data directory, so the URL stays the same
from one run to the next.
"""

from __future__ import annotations

import os
import secrets
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import httpx

from feedsvc import __version__, jsonutil
from feedsvc.config import load_settings

DEMO_USER = "retino"


def _demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo's token and password: made on the first run, reused afterwards."""
    path = data_dir / "demo-secrets.json"
    if path.is_file():
        return jsonutil.loads(path.read_text())
    values = {"token": secrets.token_hex(32), "password": secrets.token_urlsafe(18)}
    path.write_text(jsonutil.dumps(values))
    path.chmod(0o600)
    return values


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


def _print_banner(base: str, values: dict[str, str], cert: Path, result_line: str, report_line: str) -> None:
    token_url = f"{base}/feed/{values['token']}.xml"
    click.echo("")
    click.echo(click.style("feedsvc demo is serving the feed over HTTPS", bold=True))
    click.echo(f"  {result_line}")
    click.echo(f"  {report_line}")
    click.echo("")
    click.echo("Paste into Retino (Settings → Orders → XML feed), either:")
    click.echo(f"  URL with Basic auth:  {base}/feed.xml")
    click.echo(f"      user:             {DEMO_USER}")
    click.echo(f"      password:         {values['password']}")
    click.echo(f"  or the secret URL:    {token_url}")
    click.echo("")
    click.echo("Fetch it yourself:")
    click.echo(f"  curl --cacert {shlex.quote(str(cert))} -u {DEMO_USER}:{shlex.quote(values['password'])} "
               f"{base}/feed.xml -o feed.xml")
    click.echo(f"Dashboard: {base}/   (same user and password)")
    click.echo("(The certificate is self-signed for the demo; production uses a real one, see README.)")


@click.command("demo")
@click.option("--orders", default=150, show_default=True, help="Orders in the simulated shop.")
@click.option("--port", default=8443, show_default=True, help="HTTPS port on 127.0.0.1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo keeps its store and snapshots (default: $FEEDSVC_DATA_DIR/demo or ./var/demo).")
@click.option("--rate", default="20/1", show_default=True,
              help="Simulator throttle, REQUESTS/SECONDS (the real Storeden allows 5/60).")
@click.option("--check", is_flag=True, help="Fetch and validate the served feed once, then stop (for CI).")
def demo_command(orders: int, port: int, data_dir: Path | None, rate: str, check: bool) -> None:
    """Run the simulator, sync, publish and serve the feed over HTTPS on this machine.

    \b
    Example:
      feedsvc demo              # then paste the printed URL and credentials into Retino
      feedsvc demo --check      # start everything, fetch and validate the feed, stop
    """
    from feedsvc.pipeline import run_pipeline
    from feedsvc.retino.validate import validate_path
    from feedsvc.storeden.sandbox import SandboxServer
    from feedsvc.tls import ensure_self_signed

    requests, _, seconds = rate.partition("/")
    sandbox_rate = (int(requests), float(seconds or 1))
    if data_dir is None:
        data_dir = Path(os.environ.get("FEEDSVC_DATA_DIR", "./var")) / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    values = _demo_secrets(data_dir)
    cert, key = ensure_self_signed(data_dir)

    with SandboxServer(orders=orders, seed=1, rate=sandbox_rate) as sandbox:
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
            "FEEDSVC_SYNC_INTERVAL": "300",
        }
        settings = load_settings(env)
        click.echo(f"simulator: {orders} orders at {sandbox.url} (throttle {rate})", err=True)
        outcome = run_pipeline(settings, progress=sys.stderr.isatty(), command="feedsvc demo")
        if outcome.publish_error:
            raise click.ClickException(outcome.publish_error)
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
            fetched_line = _fetch_once_like_retino(base, values, cert)
            _print_banner(base, values, cert, f"synced: {sync_result.summary()}", f"{report_line}\n  {fetched_line}")
            if check:
                _check_served(base, values, cert, data_dir)
                return
            _keep_fresh(settings, stop)
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


DEMO_USER_AGENT = f"feedsvc-demo/{__version__} (one download at start, the way Retino fetches the feed)"


def _fetch_once_like_retino(base: str, values: dict[str, str], cert: Path) -> str:
    """Download the feed once, as Retino will every 6 hours, so the dashboard's Delivery card shows a fetch."""
    try:
        response = httpx.get(f"{base}/feed.xml", auth=(DEMO_USER, values["password"]),
                             headers={"User-Agent": DEMO_USER_AGENT, "Accept-Encoding": "gzip"},
                             verify=ssl.create_default_context(cafile=str(cert)), timeout=60)
    except httpx.HTTPError as exc:
        return f"fetched: the demo's own download failed ({type(exc).__name__}); see the Delivery page"
    return (f"fetched: the feed once, as Retino would ({response.status_code}, {len(response.content):,} bytes of "
            "XML); the dashboard's Delivery card shows it")


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
