"""`feedsvc sync`: one sync (optionally followed by a publish) under the lock, or the worker's forever loop."""

from __future__ import annotations

import logging
import sys

import click

from feedsvc.commands import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED
from feedsvc.config import load_settings
from feedsvc.pipeline import PipelineBusy, run_forever, run_pipeline


@click.command("sync")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Window in days (default FEEDSVC_DAYS).")
@click.option("--publish", is_flag=True, help="Publish a new snapshot right after, in the same locked run.")
@click.option("--forever", is_flag=True, help="Keep syncing every FEEDSVC_SYNC_INTERVAL and publish after each.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def sync_command(days: int | None, publish: bool, forever: bool, quiet: bool) -> None:
    """Pull the window's orders from Storeden into the local store.

    \b
    Examples:
      feedsvc sync --publish              # one run: sync, then publish
      feedsvc sync --forever              # the Procfile's worker
    \b
    With push mode on (FEEDSVC_RETINO_TOKEN and FEEDSVC_RETINO_STORE_ID),
    `--publish` and `--forever` push the changed orders to Retino after
    publishing.
    \b
    Exit codes: 0 ok, 1 some orders failed (the bookmark stays), the
    publish failed or the push stopped, 2 configuration or credentials,
    3 another sync or publish is running (it holds the data dir's lock).
    """
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if forever:
        run_forever(settings, interval=settings.sync_interval)
        return
    try:
        outcome = run_pipeline(settings, sync=True, publish=publish, days=days, progress=False if quiet else None,
                               command="feedsvc sync --publish" if publish else "feedsvc sync")
    except PipelineBusy as exc:
        click.echo(f"feedsvc sync: {exc}", err=True)
        sys.exit(EXIT_BUSY)
    result = outcome.sync
    assert result is not None  # a run with sync=True synced, or raised
    click.echo(result.summary())
    if outcome.build is not None:
        click.echo(outcome.build.summary())
    if outcome.publish_error:
        click.echo(f"feedsvc sync: {outcome.publish_error}", err=True)
    if outcome.push is not None:
        click.echo(outcome.push.summary())
    if outcome.push_error:
        click.echo(f"feedsvc sync: {outcome.push_error}", err=True)
    if result.status == "auth_failed":
        sys.exit(EXIT_CONFIG)
    if result.status != "ok" or outcome.publish_error or outcome.push_error:
        sys.exit(EXIT_FAILED)
