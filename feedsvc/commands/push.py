"""`feedsvc push`: the changed orders to Retino's Orders API now, or their JSON (`--dry-run`); and the push
lines of `feedsvc status`."""

from __future__ import annotations

import json
import logging
import sys
import time

import click

from feedsvc.commands import EXIT_BUSY, EXIT_FAILED
from feedsvc.config import Settings, load_settings
from feedsvc.durations import format_age
from feedsvc.pipeline import PipelineBusy
from feedsvc.push import DRY_RUN_STORE_ID, PushStopped, describe_left, run_push
from feedsvc.retino.push_payload import NOT_PUSHED
from feedsvc.store import Store

EXIT_REJECTED = 4  # sent, but Retino rejects some orders of the window (listed)


def echo_push_status(settings: Settings, store: Store, now: float, limit: int = 20) -> None:
    """The push lines of `feedsvc status`."""
    if not settings.push_enabled:
        click.echo("push:         off (feed mode only; set FEEDSVC_RETINO_TOKEN and FEEDSVC_RETINO_STORE_ID "
                   "to push orders to Retino as they change)")
        return
    since_ts = int(now - settings.days * 86400)
    counts = store.push_counts(since_ts, settings.exclude_statuses, NOT_PUSHED)
    click.echo(f"push:         on, to {settings.retino_url} as store {settings.retino_store_id}")
    run = counts.last_run
    if run is None:
        click.echo("last push:    never (it runs after each sync, or `feedsvc push`)")
    else:
        click.echo(f"last push:    {run.status} {format_age(now - run.started_at)} ago: {run.sent} sent, "
                   f"{run.confirmed} confirmed, {run.rejected} rejected, {run.shipments} shipments; "
                   f"{run.calls} calls, {run.responses_429}x429" + (f"; {run.error}" if run.error else ""))
    click.echo(f"in Retino:    {counts.confirmed} confirmed, {counts.pending} pending, {counts.rejected} rejected")
    for row in store.rejected_orders(since_ts, limit):
        click.echo(f"  rejected {row['code']}: {row['error']}")
    left = store.orders_left_retino(limit)
    if left:
        click.echo(f"left the feed, still in Retino: {counts.left_retino}")
        for row in left:
            click.echo(f"  {describe_left(row)}")


@click.command("push")
@click.option("--dry-run", is_flag=True, help="Print the JSON that would be sent; send nothing, change nothing.")
@click.option("--all", "resend_all", is_flag=True, help="Send every published order of the window, changed or not.")
def push_command(dry_run: bool, resend_all: bool) -> None:
    """Send the orders that changed since Retino last confirmed them to its Orders API.

    Pushes the orders as the last publish put them in the feed (run `feedsvc
    sync --publish` first; with push on, every sync of `sync --forever` and of
    `sync --publish` pushes by itself).

    \b
    Examples:
      feedsvc push --dry-run          # print the JSON it would send
      feedsvc push                    # send what changed
      feedsvc push --all              # send every order of the window again
    \b
    Exit codes: 0 sent (or nothing to send), 1 stopped: Retino refused
    FEEDSVC_RETINO_TOKEN or FEEDSVC_RETINO_STORE_ID, or stayed unavailable
    (what was not confirmed goes next time), 2 configuration, 3 another run
    holds the data dir's lock, 4 sent, but Retino rejects some orders
    (listed; the others went through).
    """
    settings = load_settings()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        result = run_push(settings, resend_all=resend_all, dry_run=dry_run)
    except PipelineBusy as exc:
        click.echo(f"feedsvc push: {exc}", err=True)
        sys.exit(EXIT_BUSY)
    except PushStopped as exc:
        click.echo(f"feedsvc push: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if dry_run:
        click.echo(json.dumps(result.payloads, indent=2, ensure_ascii=False))
        if not settings.push_enabled:
            click.echo(f"(push mode is off: store_id shows {DRY_RUN_STORE_ID!r} until FEEDSVC_RETINO_STORE_ID "
                       "is set)", err=True)
        click.echo(result.summary(), err=True)
        return
    click.echo(result.summary())
    for problem in result.shipment_problems:
        click.echo(f"  shipments: {problem}")
    for message in result.left_retino:
        click.echo(f"  {message}")
    with Store.open(settings) as store:
        rejected = store.rejected_orders(int(time.time() - settings.days * 86400), limit=1000)
    for row in rejected:
        click.echo(f"  rejected {row['code']}: {row['error']}")
    if rejected:
        sys.exit(EXIT_REJECTED)
