"""`feedsvc demo` (what `make run` runs): both simulators, sync, publish, push and gunicorn over TLS, from any
directory; the feed downloaded once, as Retino would."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from feedsvc import demo
from feedsvc.commands import rate_option
from feedsvc.config import load_settings, read_setting

if TYPE_CHECKING:
    from feedsvc.pipeline import PipelineResult


@click.command("demo")
@click.option("--orders", default=150, show_default=True, help="Orders in the simulated shop.")
@click.option("--port", default=8443, show_default=True, help="HTTPS port on 127.0.0.1.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo keeps its store and snapshots (default: $FEEDSVC_DATA_DIR/demo or ./var/demo).")
@click.option("--rate", default="20/1", show_default=True, callback=rate_option,
              help="Simulator throttle, REQUESTS/SECONDS (the real Storeden allows 5/60).")
@click.option("--changes-every", default=120, show_default=True, type=click.IntRange(min=0),
              help="Seconds between changes in the simulated shop (a new order, a status change, a parcel); 0: none.")
@click.option("--check", is_flag=True,
              help="Fetch and validate the served feed, check the push (first and after a change), then stop (for CI).")
def demo_command(orders: int, port: int, data_dir: Path | None, rate, changes_every: int, check: bool) -> None:
    """Run the simulators, sync, publish, push, and serve the feed over HTTPS on this machine.

    \b
    Example:
      feedsvc demo              # then paste the printed URL and credentials into Retino
      feedsvc demo --check      # start everything, check the feed and the push, stop
    """
    from feedsvc.retino.sandbox import RetinoSandboxServer
    from feedsvc.storeden.sandbox import SandboxServer
    from feedsvc.tls import ensure_self_signed

    if data_dir is None:
        data_dir = read_setting("data_dir") / "demo"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    demo.start_afresh(data_dir)
    values = demo.demo_secrets(data_dir)
    cert, key = ensure_self_signed(data_dir)

    with SandboxServer(orders=orders, seed=1, rate=rate) as sandbox, \
            RetinoSandboxServer(token=demo.DEMO_RETINO_TOKEN, store_ids=(demo.DEMO_STORE_ID,)) as retino:
        env = demo.demo_environment(sandbox=sandbox, retino=retino, data_dir=data_dir, values=values,
                                    tls=(cert, key), port=port)
        settings = load_settings(env)
        click.echo(f"Storeden simulator: {orders} orders at {sandbox.url} (throttle {rate})", err=True)
        click.echo(f"Retino Orders API simulator: {retino.url} (store id {demo.DEMO_STORE_ID})", err=True)
        sync_line, report_line, outcome = _sync_and_publish(settings)
        server = demo.start_web(env, data_dir)
        stop = threading.Event()
        try:
            base = f"https://127.0.0.1:{port}"
            demo.wait_until_serving(f"{base}/healthz", cert, server)
            fetched_line = demo.fetch_once_like_retino(base, values, cert)
            push_lines = demo.push_lines(settings, retino, outcome.push, changes_every)
            for line in demo.banner(base, values, cert, [sync_line, report_line, fetched_line], push_lines):
                click.echo(line)
            if check:
                _check(base, values, cert, data_dir)
                assert outcome.build is not None  # _sync_and_publish stops the demo when nothing was published
                click.echo(demo.check_pushed(settings, sandbox, retino, outcome.build.snapshot_dir / "feed.xml"))
            else:
                if changes_every:
                    demo.keep_shop_moving(sandbox, changes_every, stop)
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


def _sync_and_publish(settings) -> tuple[str, str, PipelineResult]:
    """The first sync, publish and push, and the published feed checked: (the sync's line, the check's line,
    the pipeline's outcome)."""
    from feedsvc.pipeline import run_pipeline
    from feedsvc.retino.validate import validate_path

    outcome = run_pipeline(settings, progress=sys.stderr.isatty(), command="feedsvc demo")
    if outcome.publish_error or outcome.push_error:
        raise click.ClickException(str(outcome.publish_error or outcome.push_error))
    assert outcome.sync is not None and outcome.build is not None and outcome.push is not None
    report = validate_path(outcome.build.snapshot_dir / "feed.xml", days=settings.days)
    return (f"synced: {outcome.sync.summary()}",
            f"validated: {report.orders} orders, {report.errors} errors, {report.warnings} warnings "
            "against schema/retino-feed.xsd", outcome)


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
