"""Build a snapshot: store → mapping → render → validate → publish; `feedsvc render` and `feedsvc status`.

An order that cannot be mapped is quarantined with its reason and the rest is
published. The rendered file is checked with the same engine as `feedsvc
validate`; orders that the check blames are quarantined and the feed is
rendered once more without them. A feed that still fails is never published:
the previous snapshot stays served and the failure is recorded for
`/healthz` and `feedsvc status`.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click

from feedsvc.config import Settings, load_settings
from feedsvc.publish import PublishError, SnapshotWriter, current_snapshot
from feedsvc.retino.mapping import MappingContext, MappingError, map_order
from feedsvc.retino.render import render_feed
from feedsvc.retino.validate import validate_path
from feedsvc.store import Store

log = logging.getLogger("feedsvc.build")


class BuildError(RuntimeError):
    """The feed could not be published; the previous snapshot stays current."""


@dataclass
class BuildResult:
    orders: int
    quarantined: int
    warnings: int
    sha256: str
    size: int
    elapsed: float
    snapshot_dir: Path
    blocked: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"published {self.orders} orders ({self.size / 1e6:.2f} MB, sha256 {self.sha256[:12]}), "
                f"{self.warnings} warnings, {self.quarantined} quarantined; {self.elapsed:.1f}s")


@dataclass
class _Pass:
    """What one render pass learnt about the orders, written to the store afterwards."""

    mapped: list = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    quarantined: dict[str, tuple[str, str]] = field(default_factory=dict)
    code_to_order_id: dict[str, str] = field(default_factory=dict)


def mapping_context(settings: Settings, store: Store) -> MappingContext:
    return MappingContext.from_settings(
        settings,
        checkout_methods=store.get_reference("checkoutMethods"),
        countries=store.get_reference("countries"),
    )


def _mapped_orders(store, settings, context, since_ts, excluded_ids, state: _Pass):
    """Yield the window's orders as Retino orders, recording what could not be mapped."""
    for stored in store.iter_window_orders(since_ts, settings.exclude_statuses):
        if stored.order_id in excluded_ids:
            continue
        if stored.raw is None:
            state.quarantined[stored.order_id] = ("order details not fetched yet", "")
            continue
        try:
            result = map_order(stored.raw, tracking=stored.tracking, summary=stored.summary,
                               context=context)
        except MappingError as exc:
            state.quarantined[stored.order_id] = (str(exc), stored.raw_text or "")
            continue
        order = result.order
        other = state.code_to_order_id.get(order.code)
        if other is not None:
            state.quarantined[stored.order_id] = (
                f"duplicate CODE {order.code!r}: order {other} already uses it", stored.raw_text or "")
            continue
        state.code_to_order_id[order.code] = stored.order_id
        if result.warnings:
            state.warnings[stored.order_id] = list(result.warnings)
        state.mapped.append(Store.mapped_row(stored.order_id, order))
        yield order


def _render_pass(store, settings, context, writer, since_ts, excluded_ids) -> _Pass:
    state = _Pass()
    with open(writer.xml_path, "wb") as out:
        render_feed(_mapped_orders(store, settings, context, since_ts, excluded_ids, state), out)
    return state


def build_and_publish(settings: Settings, *, now: float | None = None, store: Store | None = None) -> BuildResult:
    """Render the window's orders from the store and publish them as the current snapshot."""
    started = time.monotonic()
    now = time.time() if now is None else now
    own_store = store is None
    store = store or Store.open(settings)
    try:
        return _build(settings, store, now, started)
    except (BuildError, PublishError) as exc:
        store.record_publish_error(str(exc))
        raise
    finally:
        if own_store:
            store.close()


def _build(settings, store, now, started) -> BuildResult:
    context = mapping_context(settings, store)
    since_ts = int(now - settings.days * 86400)
    shop_now = datetime.fromtimestamp(now, settings.zone).replace(tzinfo=None)
    blamed: dict[str, str] = {}
    with SnapshotWriter(settings.snapshots_dir) as writer:
        for attempt in (1, 2):
            state = _render_pass(store, settings, context, writer, since_ts, set(blamed))
            # Our own output: no size cap (a big shop's week can pass the CLI's 256 MB default).
            report = validate_path(writer.xml_path, days=settings.days, now=shop_now, max_bytes=None)
            errors = [f for f in report.findings if f.severity == "error"]
            if not errors:
                break
            newly_blamed = {}
            for finding in errors:
                order_id = state.code_to_order_id.get(finding.order_code or "")
                if order_id and order_id not in blamed:
                    newly_blamed.setdefault(order_id, f"feed check {finding.code}: {finding.message}")
            if attempt == 2 or not newly_blamed or len(newly_blamed) < len({f.order_code for f in errors}):
                first = errors[0]
                raise BuildError(
                    f"the rendered feed failed its check ({len(errors)} errors; first: {first.code} "
                    f"line {first.line}: {first.message}); the previous snapshot stays served")
            blamed.update(newly_blamed)
        for order_id, reason in blamed.items():
            state.quarantined[order_id] = (reason, "")
        findings_by_order = _findings_by_order(report, state)
        warning_count = sum(len(w) for w in state.warnings.values()) + report.warnings
        snapshot = writer.commit({
            "orders": report.orders,
            "warnings": warning_count,
            "quarantined": len(state.quarantined),
            "window_days": settings.days,
        })
    _record(store, state, findings_by_order)
    store.clear_publish_error()
    result = BuildResult(
        orders=report.orders, quarantined=len(state.quarantined), warnings=warning_count,
        sha256=snapshot.sha256, size=snapshot.size, elapsed=time.monotonic() - started,
        snapshot_dir=snapshot.dir, blocked=blamed)
    log.info(result.summary())
    return result


def _findings_by_order(report, state: _Pass) -> dict[str, list[tuple[str, str, str]]]:
    found: dict[str, list[tuple[str, str, str]]] = {}
    for order_id, messages in state.warnings.items():
        found.setdefault(order_id, []).extend(("MAP", "warning", m) for m in messages)
    for finding in report.findings:
        order_id = state.code_to_order_id.get(finding.order_code or "")
        if order_id and finding.severity != "info":
            found.setdefault(order_id, []).append((finding.code, finding.severity, finding.message))
    return found


def _record(store: Store, state: _Pass, findings_by_order) -> None:
    store.save_build_outcome(
        mapped_rows=[row for row in state.mapped if row[-1] not in state.quarantined],
        quarantined=state.quarantined,
        findings=findings_by_order,
    )


# -- commands -------------------------------------------------------------

@click.command("render")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="Also write the published XML here; '-' writes it to standard output.")
def render_command(output: str | None) -> None:
    """Render the stored orders, check them, and publish a new snapshot.

    \b
    Example:
      feedsvc sync && feedsvc render -o feed.xml
    """
    settings = load_settings()
    try:
        result = build_and_publish(settings)
    except (BuildError, PublishError) as exc:
        click.echo(f"feedsvc render: {exc}", err=True)
        sys.exit(1)
    snapshot = current_snapshot(settings.snapshots_dir)
    if output == "-":
        with open(snapshot.xml_path, "rb") as src:
            shutil.copyfileobj(src, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif output:
        shutil.copyfile(snapshot.xml_path, output)
    click.echo(result.summary(), err=output == "-")


def format_age(seconds: float | None) -> str:
    """A duration for people: `42 s`, `17 min`, `3 h 05 min`."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@click.command("status")
def status_command() -> None:
    """Show the last sync, the published snapshot, warnings and quarantined orders.

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
        error = store.last_publish_error()
        if error:
            click.echo(f"last publish FAILED: {error}")
        quarantined = store.list_quarantine()
        click.echo(f"quarantined:  {len(quarantined)}")
        for entry in quarantined[:20]:
            click.echo(f"  {entry.order_id}: {entry.reason}")
        if len(quarantined) > 20:
            click.echo(f"  … and {len(quarantined) - 20} more")
