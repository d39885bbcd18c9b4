"""Build a snapshot: store → mapping → render → validate → publish (`build_and_publish`).

An order that cannot be mapped is quarantined with its reason and the rest is
published. Orders whose sources, code and settings are unchanged since the
last build reuse their cached <ORDER> fragment and findings (see
fragments.py); the others are mapped, rendered, and checked with the same
engine as `feedsvc validate`, in a document of their own. Orders that the
check blames are quarantined and the feed is rendered once more without them.
The feed-level rules (duplicate package numbers, the date window) run on every
order each time. A feed that still fails is never published: the previous
snapshot stays served and the failure is recorded for `/healthz` and
`feedsvc status`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from feedsvc import faults
from feedsvc.config import ConfigError, Settings, variable_of
from feedsvc.fragments import CachedFragment, context_key, source_key
from feedsvc.pipeline import hold
from feedsvc.publish import PublishError, SnapshotWriter, open_private
from feedsvc.retino.context import InvalidContext, MappingContext, checkout_labels
from feedsvc.retino.countries import load_override_file, parse_country_list
from feedsvc.retino.mapping import MappingError, map_order
from feedsvc.retino.model import Order
from feedsvc.retino.render import FEED_HEAD, feed_tail, order_fragment
from feedsvc.retino.rules import OrderChecker
from feedsvc.retino.validate import validate_path
from feedsvc.store import SearchColumns, Store
from feedsvc.storeden.vocabulary import NotAStatus, order_status

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
    rendered: int = 0  # orders mapped, rendered and checked now; the others came from the fragment cache
    pending: int = 0  # orders still waiting for Storeden, left out of this snapshot


    def summary(self) -> str:
        return (f"published {self.orders} orders ({self.size / 1e6:.2f} MB, sha256 {self.sha256[:12]}; "
                f"{self.rendered} rendered, {self.orders - self.rendered} unchanged), "
                f"{self.warnings} warnings, {self.quarantined} quarantined"
                + (f", {self.pending} pending" if self.pending else "") + f"; {self.elapsed:.1f}s")


@dataclass
class _Published:
    """One order in the feed being built; its fragment came from the cache or was rendered now."""

    order_id: str
    fragment: CachedFragment
    fresh_span: tuple[int, int] | None = None  # (offset, length) in the fresh-orders document
    columns: SearchColumns | None = None  # set when it was rendered now


@dataclass
class _Pass:
    """What one render pass learnt about the orders, written to the store afterwards."""

    published: list[_Published] = field(default_factory=list)
    fresh: list[_Published] = field(default_factory=list)  # the published orders rendered in this pass
    quarantined: dict[str, tuple[str, str]] = field(default_factory=dict)
    code_to_order_id: dict[str, str] = field(default_factory=dict)
    ref_to_order_id: dict[str, str] = field(default_factory=dict)
    pending: int = 0  # orders still waiting for Storeden (details, or tracking due): left out, not quarantined


def mapping_context_from(settings: Settings, *, checkout_methods: Any = None, countries: Any = None
                         ) -> MappingContext:
    """The mapping context of these settings and reference data (checkoutMethods.json, /countries/list.json).

    ConfigError naming the variable when a value cannot be used (load_settings has checked them all at
    start-up; the country map file can have changed since).
    """
    try:
        overrides = load_override_file(settings.country_map_file) if settings.country_map_file else {}
        return MappingContext(
            vat_rate=settings.vat_rate, currency=settings.currency, cod_methods=settings.cod_methods,
            default_country=settings.default_country, timezone=settings.zone, order_url=settings.order_url,
            checkout_labels=checkout_labels(checkout_methods), country_overrides=overrides,
            fetched_countries=parse_country_list(countries) if countries else {})
    except InvalidContext as exc:
        field = "country_map_file" if exc.field == "country_overrides" else exc.field
        raise ConfigError(variable_of(field), exc.problem) from None
    except ValueError as exc:  # the override file
        raise ConfigError(variable_of("country_map_file"), str(exc)) from None


def mapping_context(settings: Settings, store: Store) -> MappingContext:
    """The mapping context of these settings and the reference data the sync stored."""
    return mapping_context_from(settings, checkout_methods=store.get_reference("checkoutMethods"),
                                countries=store.get_reference("countries"))


def search_columns(order: Order) -> SearchColumns:
    """What the dashboard searches and shows of a published order, small enough to keep for a 100k-order build."""
    return SearchColumns(
        code=order.code, email=order.email, customer=order.billing.name, country=order.shipping.country,
        total=str(order.total.with_vat), total_cents=int(order.total.with_vat * 100),
        payment=next((i.code for i in order.items if i.type == "billing"), ""), is_cod=1 if order.is_cod else 0,
        package_numbers=" ".join(order.package_numbers))


def _fresh_fragment(stored, context, key, state: _Pass) -> tuple[CachedFragment, SearchColumns] | None:
    """Map and render one order; None (and a quarantine entry) when it cannot be mapped."""
    try:
        result = map_order(stored.raw, tracking=stored.tracking, summary=stored.summary, context=context)
    except MappingError as exc:
        state.quarantined[stored.order_id] = (str(exc), stored.raw_text or "")
        return None
    order = result.order
    fragment = CachedFragment(
        source_key=key, xml=order_fragment(order), code=order.code, order_ref=order.order_id,
        date=order.date, packages=tuple(order.package_numbers),
        notes=[(note.rule, "warning", note.message) for note in result.notes])
    return fragment, search_columns(order)


def _left_out(stored, exclude_statuses, state: _Pass) -> bool:
    """For an order stored without a usable status: quarantine it with the reason, or skip an excluded one.

    (A store written by an older version may hold NULL for a status it could not read, such as "3".)
    """
    try:
        status = order_status(stored.raw, stored.summary)
    except NotAStatus as exc:
        state.quarantined[stored.order_id] = (str(exc), stored.raw_text or "")
        return True
    return status in exclude_statuses


def _is_duplicate(stored, fragment: CachedFragment, state: _Pass) -> bool:
    """Retino pairs orders by CODE (and we by ORDER_ID): the first order keeps it, later ones wait."""
    for value, seen, tag in ((fragment.code, state.code_to_order_id, "CODE"),
                             (fragment.order_ref, state.ref_to_order_id, "ORDER_ID")):
        other = seen.get(value)
        if other is not None:
            state.quarantined[stored.order_id] = (
                f"duplicate {tag} {value!r}: order {other} already uses it", stored.raw_text or "")
            return True
    state.code_to_order_id[fragment.code] = stored.order_id
    state.ref_to_order_id[fragment.order_ref] = stored.order_id
    return False


def _render_pass(store, settings, context, build_key, writer, fresh_path, since_ts, excluded_ids) -> _Pass:
    """Write the feed from cached and fresh fragments, and the fresh ones alone into `fresh_path`."""
    state = _Pass()
    with open_private(writer.xml_path) as feed, open_private(fresh_path) as fresh:
        feed.write(FEED_HEAD)
        fresh.write(FEED_HEAD)
        pending = store.pending_order_ids(since_ts, settings.exclude_statuses)
        for stored, cached in store.iter_window_with_fragments(since_ts, settings.exclude_statuses):
            if stored.order_id in excluded_ids:
                continue
            if stored.raw_text is None or stored.order_id in pending:
                state.pending += 1
                continue
            if stored.status is None and _left_out(stored, settings.exclude_statuses, state):
                continue
            key = source_key(build_key, stored)
            entry = _Published(stored.order_id, cached) if cached and cached.source_key == key else None
            if entry is None:
                rendered = _fresh_fragment(stored, context, key, state)
                if rendered is None:
                    continue
                entry = _Published(stored.order_id, rendered[0], columns=rendered[1])
            if _is_duplicate(stored, entry.fragment, state):
                continue
            if entry.columns is not None:
                entry.fresh_span = (fresh.tell(), len(entry.fragment.xml))
                fresh.write(entry.fragment.xml)
                state.fresh.append(entry)
            feed.write(entry.fragment.xml)
            entry.fragment.xml = b""  # written: holding every fragment would keep the whole feed in memory
            state.published.append(entry)
        feed.write(feed_tail(len(state.published)))
        fresh.write(feed_tail(len(state.fresh)))
    return state


def build_and_publish(settings: Settings, *, now: float | None = None, store: Store | None = None,
                      full: bool = False) -> BuildResult:
    """Render the window's orders from the store and publish them as the current snapshot.

    Under the data dir's lock (pipeline.hold): PipelineBusy when another run
    holds it. With `full`, the fragment cache is emptied first and every order
    is rendered again.
    """
    with hold(settings, command="feedsvc render"):
        started = time.monotonic()
        now = time.time() if now is None else now
        own_store = store is None
        store = store or Store.open(settings)
        try:
            if full:
                store.forget_fragments()
            return _build(settings, store, now, started)
        except (BuildError, PublishError) as exc:
            store.record_publish_error(str(exc))
            raise
        finally:
            if own_store:
                store.close()


def _build(settings, store, now, started) -> BuildResult:
    context = mapping_context(settings, store)
    build_key = context_key(context.fingerprint())
    since_ts = int(now - settings.days * 86400)
    shop_now = datetime.fromtimestamp(now, settings.zone).replace(tzinfo=None)
    blamed: dict[str, str] = {}
    with SnapshotWriter(settings.snapshots_dir) as writer:
        fresh_path = writer.xml_path.with_name("fresh.xml")
        for attempt in (1, 2):
            state = _render_pass(store, settings, context, build_key, writer, fresh_path, since_ts, set(blamed))
            # Only the orders rendered now are checked: a cached fragment passed the same check when it was
            # rendered, with the same code, schema and settings (its key says so). Our own output has no
            # size cap (a big shop's week can pass the CLI's 256 MB default).
            report = validate_path(fresh_path, days=settings.days, now=shop_now, max_bytes=None)
            errors = [f for f in report.findings if f.severity == "error"]
            if not errors:
                break
            newly_blamed: dict[str, str] = {}
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
        _keep_own_findings(report, state)
        findings_by_order, feed_warnings = _findings_by_order(state, settings, shop_now, report)
        # Recorded before the snapshot is named current: killed in between, the next build reuses these
        # fragments and gives the same feed; killed before, nothing of this build was kept.
        _record(store, state, findings_by_order, since_ts, fresh_path)
        fresh_path.unlink()
        snapshot = writer.commit({
            "orders": len(state.published),
            "warnings": feed_warnings,
            "quarantined": len(state.quarantined),
            "window_days": settings.days,
            "rendered": len(state.fresh),
            "pending": state.pending,
        })
    store.clear_publish_error()
    result = BuildResult(
        orders=len(state.published), quarantined=len(state.quarantined), warnings=feed_warnings,
        sha256=snapshot.sha256, size=snapshot.size, elapsed=time.monotonic() - started,
        snapshot_dir=snapshot.dir, blocked=blamed, rendered=len(state.fresh), pending=state.pending)
    log.info(result.summary())
    return result


def _keep_own_findings(report, state: _Pass) -> None:
    """Attach each fresh order's own findings (not the feed-level ones) to its fragment."""
    by_code = {entry.fragment.code: entry for entry in state.fresh}
    for finding in report.findings:
        entry = by_code.get(finding.order_code or "")
        if entry is not None and finding.severity != "info" and not finding.feed_level:
            entry.fragment.notes.append((finding.code, finding.severity, finding.message))


def _findings_by_order(state: _Pass, settings, shop_now, report) -> tuple[dict, int]:
    """Every published order's findings, its own and the feed-level ones; and the feed's warning count."""
    checker = OrderChecker(days=settings.days, now=shop_now)
    found: dict[str, list[tuple[str, str, str]]] = {}
    warnings = sum(1 for f in report.findings if f.severity == "warning" and not f.order_code)
    for entry in state.published:
        fragment = entry.fragment
        notes = list(fragment.notes)
        notes += [(f.code, f.severity, f.message)
                  for f in checker.feed_level(code=fragment.code, date=fragment.date, packages=fragment.packages)]
        if notes:
            found[entry.order_id] = notes
            warnings += sum(1 for note in notes if note[1] == "warning")
    return found, warnings


def _record(store: Store, state: _Pass, findings_by_order, since_ts: int, fresh_path: Path) -> None:
    """Keep the fragments rendered now (for the next build) with everything else the build learnt."""
    with open(fresh_path, "rb") as fresh:
        def read_back():
            for entry in state.fresh:
                assert entry.fresh_span is not None  # every fresh entry was written to the fresh document
                offset, length = entry.fresh_span
                fresh.seek(offset)
                # Stored from the checked file, not from memory: what is cached is what passed.
                yield entry.order_id, replace(entry.fragment, xml=fresh.read(length))
                faults.reached("fragments-saving")
        store.save_build_outcome(fragments=read_back(),
                                 columns=[(entry.order_id, entry.columns) for entry in state.fresh
                                          if entry.columns is not None],
                                 quarantined=state.quarantined, findings=findings_by_order, since_ts=since_ts)
