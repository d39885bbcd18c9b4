"""Pulling orders from Storeden into the store: backfill and incremental runs (`run_sync`).

Storeden allows about 5 requests a minute, so the sync asks for as little as
it can. A backfill lists the window's orders (100 a page) and fetches details
only for orders it has not stored with the same status; tracking only for
shipped orders whose tracking it has not read at that status; it reads the
pages as it goes and takes the orders Retino needs soonest first
(backfill.py), calling the pipeline's checkpoint between two orders so the
feed is published as it grows. Later runs ask
`orders_filter.json` what had events since the last good run (with a small
overlap) and fetch only those, and a full list pass runs once a day to catch
anything the filter missed. Each order is committed as it arrives, so a
killed sync resumes where it stopped; the bookmark moves only after a run
that fully succeeded.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from dataclasses import dataclass, field

from feedsvc import faults
from feedsvc.config import Settings
from feedsvc.durations import format_elapsed
from feedsvc.pipeline import hold
from feedsvc.progress import Progress
from feedsvc.store import Store
from feedsvc.storeden.client import (
    StoredenAuthError,
    StoredenClient,
    StoredenError,
    StoredenNotFound,
    StoredenQuotaError,
)
from feedsvc.storeden.payload import PayloadError, latest_event_ts, order_timestamp
from feedsvc.storeden.vocabulary import SHIPPED_STATUSES, NotAStatus, order_status, status_or_none

log = logging.getLogger("feedsvc.sync")

OVERLAP_SECONDS = 300
FULL_LIST_EVERY = 86400
REFERENCE_MAX_AGE = 86400
BOOKMARK_LAST_OK = "last_ok_sync_started"
BOOKMARK_FULL_LIST = "last_full_list"


@dataclass
class SyncResult:
    kind: str
    status: str = "ok"
    orders_new: int = 0
    orders_changed: int = 0
    orders_unchanged: int = 0
    requests: int = 0
    responses_429: int = 0
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = (f"sync {self.status} ({self.kind}): {self.orders_new} new, {self.orders_changed} changed, "
                f"{self.orders_unchanged} unchanged; {self.requests} requests, {self.responses_429}x429; "
                f"{format_elapsed(self.elapsed)}")
        if self.errors:
            line += f"; {len(self.errors)} errors, first: {self.errors[0]}"
        return line


def _summary_ts(entry: dict) -> int | None:
    try:
        return order_timestamp(entry)
    except PayloadError:
        return None


@dataclass(frozen=True)
class Work:
    """What one order still needs from Storeden: its details (and then its tracking), or only its tracking."""

    order_id: str
    verdict: str  # "new" or "changed"
    what: str  # "details" or "tracking"
    listed_status: object  # the list entry's status as sent (details), or the stored one (tracking)
    order_ts: int | None


class _Run:
    """One sync run's state: the client, the store, counters."""

    def __init__(self, settings: Settings, client: StoredenClient, store: Store, result: SyncResult,
                 progress: Progress, now: float, window_start: int, run_id: int, checkpoint=None):
        self.settings, self.client, self.store = settings, client, store
        self.result, self.progress = result, progress
        self.now, self.window_start, self.run_id = now, window_start, run_id
        # called between two orders of a backfill: the pipeline publishes what is complete from there
        self.checkpoint = checkpoint or (lambda done, idle: None)
        self.event_times: dict[str, int] = {}  # order → its latest orders_filter event in this run

    def known(self, order_id: str) -> sqlite3.Row:
        """The stored row of an order this run has recorded."""
        row = self.store.get_known(order_id)
        if row is None:
            raise LookupError(f"order {order_id} is not in the store")
        return row

    def refresh_reference_data(self) -> None:
        for name, fetch, optional in (("checkoutMethods", self.client.checkout_methods, False),
                                      ("couriers", self.client.couriers, False),
                                      ("countries", self.client.countries, True)):
            if self.store.get_reference(name, max_age=REFERENCE_MAX_AGE) is not None:
                continue
            try:
                value = fetch()
            except StoredenAuthError:
                if not optional:
                    raise
                value = None
            except StoredenError as exc:
                if not optional:
                    self.result.errors.append(f"{name}: {exc}")
                continue
            self.store.set_reference(name, value if value is not None else {})

    def record(self, entry: dict, event_ts: int | None = None) -> tuple[str, dict | None]:
        """Store a summary; say whether the order is new, changed or unchanged, and what it was."""
        order_id = str(entry.get("orderID") or "").strip()
        known = self.store.get_known(order_id)
        status = status_or_none(entry.get("status"))
        self.store.upsert_summary(order_id, status=status, order_ts=_summary_ts(entry),
                                  short_id=str(entry["short_id"]) if entry.get("short_id") else None,
                                  locale=entry.get("locale") if isinstance(entry.get("locale"), str) else None,
                                  summary=entry, event_ts=event_ts)
        if event_ts is not None:
            self.event_times[order_id] = event_ts
        self.observe(order_id, first_sight=known is None, order_ts=_summary_ts(entry))
        if known is None:
            return "new", None
        return ("changed" if _moved(known, status) or not known["has_raw"] else "unchanged"), dict(known)

    def observe(self, order_id: str, *, first_sight: bool = False, order_ts: int | None = None) -> None:
        """Note the order's status as it now stands in the store, for push mode's status history.

        Dated by the order's latest orders_filter event when there was one, by
        its order date when a list shows it for the first time, else by the sync.
        """
        event_ts = self.event_times.get(order_id)
        if event_ts is not None:
            at, source = min(float(event_ts), self.now), "event"
        elif first_sight and order_ts is not None:
            at, source = float(min(order_ts, self.now)), "order_date"
        else:
            at, source = self.now, "sync"
        self.store.observe_status(order_id, self.known(order_id)["status"], at, source)

    def needs_details(self, entry: dict, known: dict | None, event_ts: int | None) -> bool:
        status = status_or_none(entry.get("status"))
        if status in self.settings.exclude_statuses and (known is None or not known["has_raw"]):
            return False
        if known is None or not known["has_raw"] or _moved(known, status):
            return True
        fetched_at = self.store.get_order_fetch_time(entry["orderID"])
        return event_ts is not None and fetched_at is not None and event_ts >= int(fetched_at)

    def needs_tracking(self, order_id: str, status: int | None) -> bool:
        """Shipped, and its tracking not read at this status, or not read since its details were when it had
        none (what fetch() would have asked for, had a crash not come between the two calls)."""
        if status not in SHIPPED_STATUSES:
            return False
        known = self.store.get_known(order_id)
        if known is None or known["tracking_status"] != status:
            return True
        return not known["has_tracking"] and (known["tracking_fetched_at"] or 0) < (known["raw_fetched_at"] or 0)

    def fetch_tracking(self, order_id: str, status: int | None) -> None:
        _, tracking_text = self.client.get_tracking_raw(order_id)
        faults.reached("tracking-response")
        self.store.save_tracking_raw(order_id, tracking_text, status=status)

    def fetch(self, order_id: str, listed_status: object) -> None:
        try:
            raw, text = self.client.get_order_raw(order_id)
        except StoredenNotFound:
            log.warning("order %s vanished from Storeden before its details were read", order_id)
            return
        try:
            # The details are read after the list entry, so their status wins; without one, the entry's.
            status = order_status(raw, {"status": listed_status})
        except NotAStatus as exc:
            log.warning("order %s: %s; it is quarantined until Storeden sends a status", order_id, exc)
            status = None
        try:
            order_ts = order_timestamp(raw)
        except PayloadError:
            order_ts = None
        self.store.save_order_raw(order_id, text, status=status, order_ts=order_ts)
        self.observe(order_id)
        known = self.known(order_id)
        if status in SHIPPED_STATUSES and (known["tracking_status"] != status or not known["has_tracking"]):
            faults.reached("details-saved")
            self.fetch_tracking(order_id, status)

    def plan(self, entry: dict, event_ts: int | None) -> Work | None:
        """Store a list or filter entry; the work its order still needs (None: nothing, or out of the window)."""
        order_id = str(entry.get("orderID") or "").strip()
        if not order_id:
            return None
        verdict, known = self.record(entry, event_ts)
        order_ts = _summary_ts(entry)
        if order_ts is not None and order_ts < self.window_start:
            return None
        if self.needs_details(entry, known, event_ts):
            return Work(order_id, verdict, "details", entry.get("status"), order_ts)
        status = self.known(order_id)["status"]
        if self.needs_tracking(order_id, status):
            return Work(order_id, "changed", "tracking", status, order_ts)
        self.result.orders_unchanged += 1
        return None

    def execute(self, work: Work) -> bool:
        """Fetch what `work` needs; False when Storeden failed on it (the error is kept, the run goes on)."""
        try:
            if work.what == "details":
                self.fetch(work.order_id, work.listed_status)
            else:
                self.fetch_tracking(work.order_id, self.known(work.order_id)["status"])
        except (StoredenAuthError, StoredenQuotaError):
            raise
        except StoredenError as exc:
            self.result.errors.append(f"{work.order_id}: {exc}")
            return False
        if work.verdict == "new":
            self.result.orders_new += 1
        else:
            self.result.orders_changed += 1
        return True

    def report(self, label: str, done: int, total: int) -> None:
        self.result.requests = self.client.stats.requests_sent
        self.progress.show(label, done, total, self.result.requests, int((total - done) * 1.5))
        if done % 10 == 0:
            self.store.update_sync_run(self.run_id, requests=self.result.requests, progress=f"{done}/{total} orders")

    def process(self, entries: list[tuple[dict, int | None]], label: str) -> None:
        plan = [work for work in (self.plan(entry, event_ts) for entry, event_ts in entries) if work is not None]
        for done, work in enumerate(plan, 1):
            self.execute(work)
            self.report(label, done, len(plan))

    def full_list(self) -> None:
        from feedsvc.backfill import backfill
        backfill(self, self.checkpoint)
        self.store.set_bookmark(BOOKMARK_FULL_LIST, str(self.now))

    def incremental(self, since: float) -> None:
        answer = self.client.orders_filter(int(since) - OVERLAP_SECONDS, int(self.now) + 60)
        entries = [(entry, latest_event_ts(entry)) for entry in answer["orders"] if isinstance(entry, dict)]
        self.process(entries, "incremental")


def _moved(known, listed_status: int | None) -> bool:
    """Whether a list entry's status differs from the one the order's details were read at.

    An entry without a usable status says nothing about a move.
    """
    return listed_status is not None and known["raw_status"] != listed_status


def run_sync(settings: Settings, *, days: int | None = None, client: StoredenClient | None = None,
             store: Store | None = None, progress: bool | None = None, now: float | None = None,
             checkpoint=None) -> SyncResult:
    """One sync run under the data dir's lock (pipeline.hold); raises PipelineBusy when another run holds it."""
    with hold(settings, command="feedsvc sync"):
        own_client, own_store = client is None, store is None
        client = client or StoredenClient.from_settings(settings)
        faults.watch_responses(client.http)
        store = store or Store.open(settings)
        try:
            return _run(settings, client, store, days or settings.days, progress, now, checkpoint)
        finally:
            if own_client:
                client.close()
            if own_store:
                store.close()


def _run(settings, client, store, days, progress, now, checkpoint=None) -> SyncResult:
    started = time.monotonic()
    now = time.time() if now is None else now
    window_start = int(now - days * 86400)
    last_ok = store.get_bookmark(BOOKMARK_LAST_OK)
    last_full = store.get_bookmark(BOOKMARK_FULL_LIST)
    needs_full = last_ok is None or last_full is None or float(last_full) < now - FULL_LIST_EVERY \
        or float(last_ok) < window_start
    kind = "backfill" if needs_full else "incremental"
    result = SyncResult(kind=kind)
    run_id = store.start_sync_run(kind)
    show = sys.stderr.isatty() if progress is None else progress
    meter = Progress(show, settings.rate_seconds / settings.rate_requests, log=log)
    run = _Run(settings, client, store, result, meter, now, window_start, run_id, checkpoint)
    before_requests, before_429 = client.stats.requests_sent, client.stats.responses_429
    try:
        run.refresh_reference_data()
        if needs_full:
            run.full_list()
        else:
            run.incremental(float(last_ok))
    except (StoredenError, OSError) as exc:
        result.errors.insert(0, str(exc))
        result.status = "failed"
        if isinstance(exc, StoredenAuthError):
            result.status = "auth_failed"
    except BaseException as exc:
        result.status = "failed"
        result.errors.insert(0, f"interrupted: {type(exc).__name__}")
        raise
    finally:
        meter.close()
        if result.errors and result.status == "ok":
            result.status = "partial"
        result.requests = client.stats.requests_sent - before_requests
        result.responses_429 = client.stats.responses_429 - before_429
        result.elapsed = time.monotonic() - started
        if result.status == "ok":
            store.set_bookmark(BOOKMARK_LAST_OK, str(now))
        store.finish_sync_run(run_id, status=result.status, requests=result.requests,
                              responses_429=result.responses_429, orders_new=result.orders_new,
                              orders_changed=result.orders_changed, orders_unchanged=result.orders_unchanged,
                              error="; ".join(result.errors[:3]) or None, progress=None)
    log.info(result.summary())
    return result
