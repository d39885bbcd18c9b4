"""`feedsvc status`: the last sync, the published snapshot, warnings by kind, a backfill's progress or the pending
orders, the last download of the feed, the quarantine and the push, as text."""

from __future__ import annotations

import time

import click

from feedsvc import backfill, delivery
from feedsvc.commands.push import echo_push_status
from feedsvc.config import load_settings
from feedsvc.durations import format_age
from feedsvc.pipeline import pipeline_running
from feedsvc.publish import current_snapshot
from feedsvc.retino.mapping import WARNING_KINDS, WARNING_RULE_PREFIX
from feedsvc.store import Store

STATUS_LIST_LIMIT = 20


@click.command("status")
def status_command() -> None:
    """Show the last sync, the published snapshot, warnings, the backfill, the last download of the feed,
    quarantined orders and the push to Retino.

    \b
    Example:
      feedsvc status
    """
    settings = load_settings()
    now = time.time()
    with Store.open(settings) as store:
        run = store.last_sync_run()
        if run is None:
            click.echo("last sync:    never")
        else:
            click.echo(f"last sync:    {run.status} ({run.kind}) {format_age(now - run.started_at)} ago: "
                       f"{run.orders_new} new, {run.orders_changed} changed, {run.requests} requests, "
                       f"{run.responses_429}x429" + (f"; error: {run.error}" if run.error else ""))
        snapshot = current_snapshot(settings.snapshots_dir)
        if snapshot is None:
            click.echo("snapshot:     none published yet (run `feedsvc render`)")
        else:
            meta = snapshot.meta
            click.echo(f"snapshot:     {meta.get('orders', '?')} orders, {snapshot.size / 1e6:.2f} MB, "
                       f"{format_age(snapshot.age(now))} old, sha256 {snapshot.sha256[:12]}")
            click.echo(f"warnings:     {meta.get('warnings', 0)}")
        _echo_warnings(store.list_warnings())
        progress = backfill.read_progress(store, settings, running=pipeline_running(settings), now=now)
        for line in (backfill.status_line(progress, settings), delivery.status_line(settings, now)):
            if line:
                click.echo(line)
        error = store.last_publish_error()
        if error:
            click.echo(f"last publish FAILED: {error}")
        quarantined = store.list_quarantine()
        click.echo(f"quarantined:  {len(quarantined)}")
        _echo_some([f"{entry.order_id}: {entry.reason}" for entry in quarantined], indent="  ")
        echo_push_status(settings, store, now)


def _echo_some(lines: list[str], *, indent: str, limit: int = STATUS_LIST_LIMIT) -> None:
    for line in lines[:limit]:
        click.echo(indent + line)
    if len(lines) > limit:
        click.echo(f"{indent}… and {len(lines) - limit} more")


def _warning_kind(rule: str) -> str:
    """A rule code as people read it: `MAP:country` → `country not recognised; …`; validator codes as they are."""
    if rule.startswith(WARNING_RULE_PREFIX):
        meaning = WARNING_KINDS.get(rule[len(WARNING_RULE_PREFIX):])
        if meaning:
            return f"{meaning} ({rule})"
    return rule


def _echo_warnings(warnings: list[tuple[str, str, str | None, str]]) -> None:
    """The orders carrying warnings, one group per kind, as the quarantine is listed."""
    groups: dict[str, list[str]] = {}
    orders: dict[str, set[str]] = {}
    for rule, order_id, code, message in warnings:
        shown = f"{order_id} ({code})" if code and code != order_id else order_id
        groups.setdefault(rule, []).append(f"{shown}: {message}")
        orders.setdefault(rule, set()).add(order_id)
    for rule, lines in groups.items():
        count = len(orders[rule])
        click.echo(f"  {_warning_kind(rule)}: {count} order{'' if count == 1 else 's'}")
        _echo_some(lines, indent="    ")
