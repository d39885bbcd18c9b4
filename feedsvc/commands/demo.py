"""`feedsvc demo` (what `make run` runs): simulator, sync, publish and gunicorn over TLS, from any directory."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from feedsvc import demo
from feedsvc.commands import rate_option
from feedsvc.config import load_settings, read_setting


@click.command("demo")
@click.option("--orders", default=150, show_default=True, help="Orders in the simulated shop.")
@click.option("--port", default=8443, show_default=True, help="HTTPS port on 127.0.0.1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo keeps its store and snapshots (default: $FEEDSVC_DATA_DIR/demo or ./var/demo).")
@click.option("--rate", default="20/1", show_default=True, callback=rate_option,
              help="Simulator throttle, REQUESTS/SECONDS (the real Storeden allows 5/60).")
@click.option("--check", is_flag=True, help="Fetch and validate the served feed once, then stop (for CI).")
def demo_command(orders: int, port: int, data_dir: Path | None, rate, check: bool) -> None:
    """Run the simulator, sync, publish and serve the feed over HTTPS on this machine.

    \b
    Example:
      feedsvc demo              # then paste the printed URL and credentials into Retino
      feedsvc demo --check      # start everything, fetch and validate the feed, stop
    """
    from feedsvc.storeden.sandbox import SandboxServer
    from feedsvc.tls import ensure_self_signed

    if data_dir is None:
        data_dir = read_setting("data_dir") / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    values = demo.demo_secrets(data_dir)
    cert, key = ensure_self_signed(data_dir)

    with SandboxServer(orders=orders, seed=1, rate=rate) as sandbox:
        env = demo.demo_environment(sandbox=sandbox, data_dir=data_dir, values=values, tls=(cert, key), port=port)
        settings = load_settings(env)
        click.echo(f"simulator: {orders} orders at {sandbox.url} (throttle {rate})", err=True)
        lines = _sync_and_publish(settings)
        server = demo.start_web(env, data_dir)
        stop = threading.Event()
        try:
            base = f"https://127.0.0.1:{port}"
            demo.wait_until_serving(f"{base}/healthz", cert, server)
            for line in demo.banner(base, values, cert, *lines):
                click.echo(line)
            if check:
                _check(base, values, cert, data_dir)
            else:
                _serve_until_stopped(settings, server, stop)
        except demo.DemoError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()


def _sync_and_publish(settings) -> tuple[str, str]:
    """The first sync and publish, and the published feed checked: (the sync's line, the check's line)."""
    from feedsvc.pipeline import run_pipeline
    from feedsvc.retino.validate import validate_path

    outcome = run_pipeline(settings, progress=sys.stderr.isatty(), command="feedsvc demo")
    if outcome.publish_error:
        raise click.ClickException(outcome.publish_error)
    assert outcome.sync is not None and outcome.build is not None
    report = validate_path(outcome.build.snapshot_dir / "feed.xml", days=settings.days)
    return (f"synced: {outcome.sync.summary()}",
            f"validated: {report.orders} orders, {report.errors} errors, {report.warnings} warnings "
            "against schema/retino-feed.xsd")


def _check(base: str, values: dict[str, str], cert: Path, data_dir: Path) -> None:
    line, valid = demo.check_served(base, values, cert, data_dir)
    click.echo(line)
    if not valid:
        raise click.ClickException("the served feed is not valid")


def _serve_until_stopped(settings, server: subprocess.Popen, stop: threading.Event) -> None:
    """Keep the feed fresh until Ctrl-C, SIGTERM or gunicorn's end."""
    demo.keep_fresh(settings, stop)
    click.echo("\nPress Ctrl-C to stop.")
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set() and server.poll() is None:
        stop.wait(1.0)
