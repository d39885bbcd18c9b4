"""The full list pass of a sync (the first backfill, the daily re-list), in the order Retino needs the orders.

At Storeden's 5 requests a minute a 1,000-order week is some 1,500 requests,
five hours. Two things keep the first feed minutes away, whatever the shop's
size:

- the list is read a page (100 orders) at a time, only when the work known
  so far has nothing urgent left, so the first details are fetched right
  after the first page rather than after the whole list; while nothing
  urgent is known, a page and an order take turns (until the pages read
  catch up with the orders done), so a shop with no shipped order in sight
  still gets its first orders fetched in the first minute;
- the orders are fetched by urgency (URGENCY), newest first within a class:
  an order that is delivered (4) or in after-sale (8) is the one a customer
  may return or complain about today, in Retino's portal, which finds it by
  its CODE in the feed; a sent one (3) is one Retino tracks by its package
  number; a closed one (5) is done but still returnable; orders not shipped
  yet (0, 1, 2, or no usable status) have nothing to return or track.

Between two orders the run calls its `checkpoint(done)`: the pipeline
publishes what is complete from there (see `progressive.ProgressivePublisher`).
What the pass has done and has left is kept in the store as a bookmark
(PROGRESS_BOOKMARK) for the dashboard and `feedsvc status`, with an ETA at
the configured throttle.
"""

from __future__ import annotations

import heapq
import json
import time
from dataclasses import dataclass

from feedsvc import faults
from feedsvc.durations import format_age
from feedsvc.storeden.payload import PayloadError, order_timestamp
from feedsvc.storeden.vocabulary import SHIPPED_STATUSES, status_or_none

URGENCY: dict[int | None, int] = {4: 0, 8: 0, 3: 1, 5: 2}  # lower goes first
NOT_URGENT = 3
PAGE_SIZE = 100
PROGRESS_BOOKMARK = "backfill_progress"
REQUESTS_PER_UNLISTED_ORDER = 1.5  # details, and tracking for about half of them (shipped)


def urgency(status: object) -> int:
    """How soon Retino needs an order at this (list entry's or stored) status: 0 first."""
    return URGENCY.get(status_or_none(status), NOT_URGENT)


def _requests_for(work) -> int:
    if work.what == "tracking":
        return 1
    return 2 if status_or_none(work.listed_status) in SHIPPED_STATUSES else 1


class _Queue:
    """The work known so far, most urgent first; and how many requests it will take."""

    def __init__(self):
        self.heap: list = []
        self.requests = 0
        self._seq = 0

    def push(self, work) -> None:
        self._seq += 1
        status = work.listed_status
        heapq.heappush(self.heap, (urgency(status), -(work.order_ts or 0), self._seq, work))
        self.requests += _requests_for(work)

    def pop(self):
        work = heapq.heappop(self.heap)[-1]
        self.requests -= _requests_for(work)
        return work

    def next_requests(self) -> int:
        """Requests the next order will take (a page read counts one)."""
        return _requests_for(self.heap[0][-1]) if self.heap else 1

    def urgent_left(self) -> bool:
        return bool(self.heap) and self.heap[0][0] < NOT_URGENT

    def __len__(self) -> int:
        return len(self.heap)


def backfill(run, checkpoint) -> None:
    """List the window page by page and fetch what each order needs, most urgent first (see the module)."""
    pages = run.client.list_pages(from_ts=run.window_start - 1, to_ts=int(run.now) + 60, limit=PAGE_SIZE)
    progress = _ProgressWriter(run)
    queue, seen = _Queue(), set()
    listing, done, pages_read = True, 0, 0
    while True:
        # With nothing urgent known, pages and orders take turns: a shop whose orders are all unshipped
        # (or listed oldest first) still has its first orders fetched, and published, in the first minutes.
        if listing and (not queue or (not queue.urgent_left() and pages_read <= done + 1)):
            page = next(pages, None)
            pages_read += 1
            if page is None:
                listing = False
            else:
                faults.reached("list-page")
                for entry in page:
                    order_id = str(entry.get("orderID") or "")
                    if order_id in seen:  # skip-based paging can repeat an order when new ones arrive
                        continue
                    seen.add(order_id)
                    work = run.plan(entry, None)
                    if work is not None:
                        queue.push(work)
                    progress.listed(entry)
            progress.write(listing_done=not listing, done=done, queue=queue)
            continue
        if not queue:
            break
        work = queue.pop()
        run.execute(work)
        done += 1
        run.report("backfill", done, done + len(queue))
        progress.write(listing_done=not listing, done=done, queue=queue, every=10)
        # idle: the next order cannot be fetched without waiting for the throttle, so publishing now is free
        checkpoint(done, run.client.throttle.free() < queue.next_requests())
    progress.write(listing_done=True, done=done, queue=queue, finished=True)


class _ProgressWriter:
    """Keeps PROGRESS_BOOKMARK up to date: orders listed, done, queued, and the ETA."""

    def __init__(self, run):
        self.run = run
        self.per_request = run.settings.rate_seconds / run.settings.rate_requests
        self.count = 0
        self.oldest_ts: int | None = None
        self.started_at = time.time()
        self.writes = 0

    def listed(self, entry: dict) -> None:
        self.count += 1
        try:
            order_ts = order_timestamp(entry)
        except PayloadError:
            order_ts = None
        if order_ts is not None and (self.oldest_ts is None or order_ts < self.oldest_ts):
            self.oldest_ts = order_ts

    def estimated_total(self, listing_done: bool) -> int:
        """Orders in the window: exact once listed; before, scaled by the span of dates the pages covered.

        (Storeden lists newest first in practice; were it not so, the guess is low and grows page by page.)
        """
        if listing_done or self.oldest_ts is None:
            return self.count
        span = self.run.now - self.run.window_start
        covered = (self.run.now - self.oldest_ts) / span if span > 0 else 1.0
        return max(self.count, round(self.count / covered)) if covered > 0 else self.count

    def write(self, *, listing_done: bool, done: int, queue: _Queue, every: int = 1, finished: bool = False) -> None:
        self.writes += 1
        if not finished and self.writes % every:
            return
        total = self.estimated_total(listing_done)
        unlisted = max(total - self.count, 0)
        pages_left = 0 if listing_done else unlisted // PAGE_SIZE + 1
        requests_left = queue.requests + pages_left + round(unlisted * REQUESTS_PER_UNLISTED_ORDER)
        state = {"run_id": self.run.run_id, "started_at": self.started_at, "updated_at": time.time(),
                 "listing_done": listing_done, "listed": self.count, "estimated_total": total, "done": done,
                 "queued": len(queue), "requests_left": requests_left,
                 "eta_seconds": round(requests_left * self.per_request), "finished": finished}
        self.run.store.set_bookmark(PROGRESS_BOOKMARK, json.dumps(state))


@dataclass(frozen=True)
class BackfillProgress:
    """What the dashboard and `feedsvc status` say about a backfill: counted in the store, ETA from the run."""

    running: bool  # a backfill run holds the lock now
    listed: int  # the window's orders known to the store
    fetched: int  # ... with their details (and tracking when due): in the feed, or quarantined
    pending: int  # ... still waiting for Storeden
    listing_done: bool
    estimated_total: int
    eta_seconds: float | None  # None when not running

    @property
    def percent(self) -> int:
        total = max(self.estimated_total, self.listed, 1)
        return min(100, int(100 * self.fetched / total))


def read_progress(store, settings, *, running: bool, now: float | None = None) -> BackfillProgress | None:
    """The backfill's progress, or None when no order is pending and none is running."""
    now = time.time() if now is None else now
    since_ts = int(now - settings.days * 86400)
    listed, pending = store.count_window_pending(since_ts, settings.exclude_statuses)
    try:
        state = json.loads(store.get_bookmark(PROGRESS_BOOKMARK) or "{}")
    except ValueError:
        state = {}
    run = store.last_sync_run()
    running = running and run is not None and run.status == "running" and run.kind == "backfill" \
        and state.get("run_id") == run.id and not state.get("finished")
    if not running and pending == 0:
        return None
    eta = None
    if running:
        eta = max(0.0, float(state.get("eta_seconds", 0)) - (now - float(state.get("updated_at", now))))
    return BackfillProgress(running=running, listed=listed, fetched=listed - pending, pending=pending,
                            listing_done=bool(state.get("listing_done")) if running else True,
                            estimated_total=max(int(state.get("estimated_total", 0)), listed) if running
                            else listed, eta_seconds=eta)


def status_line(progress: BackfillProgress | None, settings) -> str | None:
    """The backfill as `feedsvc status` prints it; None when there is nothing to say."""
    if progress is None:
        return None
    if not progress.running:
        return (f"pending:      {progress.pending} orders wait for Storeden (not in the feed, not quarantined); "
                "the next sync fetches them")
    total = f"{progress.listed}" if progress.listing_done else f"about {progress.estimated_total} (still listing)"
    return (f"backfill:     running, {progress.fetched} of {total} orders fetched ({progress.percent} %), "
            f"{progress.pending} pending; about {format_age(progress.eta_seconds)} left at "
            f"{settings.rate_requests} requests per {settings.rate_seconds:g} s; what is complete is published "
            "as it goes")
