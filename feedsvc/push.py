"""Push mode: the window's published orders to Retino's Orders API as they change (specs/retino-orders-api.md §6).

One mapping, two outputs: an order is pushed exactly as the feed published it.
The push walks the orders whose <ORDER> fragment is in the published feed
(not quarantined, not excluded), maps each one again from the very texts its
fragment was rendered from (an order changed since the last publish waits for
the next one), and turns that `Order` into JSON with `push_payload.order_json`,
its status history built from what sync observed.

It sends only what Retino has not confirmed: each order keeps the hash of the
JSON Retino last confirmed (and the key of the inputs it came from, so an
unchanged order is not even mapped again). The changed ones go in bulk calls
of at most 100 (`RetinoClient.upsert_all`), streamed in chunks so a big window
is never held in memory; a second push with nothing changed sends nothing.
Confirmations, rejections (with Retino's message) and shipments are recorded
per order as they come back. A rejected JSON is not sent again until it
changes or an hour has passed. A wrong token, an unknown store id or Retino
staying unavailable stops the push (`PushStopped`) after recording what was
learnt; nothing is lost: whatever was not confirmed is sent next time.

Orders that Storeden archived or aborted after Retino got them are reported,
never deleted. The push holds the data dir's lock (pipeline.hold); a dry run
only reads.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from feedsvc import faults
from feedsvc.build import mapping_context
from feedsvc.config import Settings
from feedsvc.fragments import context_key, source_key
from feedsvc.pipeline import hold
from feedsvc.retino.answers import UNCONFIRMED, Confirmed, Rejected
from feedsvc.retino.api import (
    BULK_LIMIT,
    RetinoAuthError,
    RetinoClient,
    RetinoError,
    RetinoNotFound,
    RetinoRejected,
    RetinoUnavailable,
    RetinoUnknownStore,
)
from feedsvc.retino.mapping import MappingError, map_order, package_numbers
from feedsvc.retino.push_payload import (
    DEFAULT_PICKUP_PHRASES,
    NOT_PUSHED,
    is_pickup,
    is_pushed,
    order_json,
    payload_hash,
    status_history,
)
from feedsvc.store import ObservedStatus, PushCandidate, Store
from feedsvc.storeden.vocabulary import STATUS_NAMES

log = logging.getLogger("feedsvc.push")

RETRY_REJECTED_AFTER = 3600  # a refused JSON goes again unchanged after this long (Retino's rules may change)
SHIPMENT_FAILURES_TO_STOP = 3  # shipment calls Retino leaves unanswered in a row before the push stops
DRY_RUN_STORE_ID = "your-store-id"  # shown by --dry-run when FEEDSVC_RETINO_STORE_ID is not set yet


class PushStopped(RuntimeError):
    """The push stopped: Retino refused the token or the store id, or stayed unavailable.

    What was learnt before is recorded; `result` says how far it got.
    """

    def __init__(self, message: str, result: PushResult):
        super().__init__(message)
        self.result = result


@dataclass
class PushResult:
    status: str = "ok"  # ok | rejected | auth_failed | unknown_store | unavailable
    considered: int = 0  # published, pushable orders of the window
    unchanged: int = 0
    waiting: int = 0  # changed since the last publish: pushed after the next one
    still_rejected: int = 0  # refused before and unchanged since: not sent again yet
    sent: int = 0
    confirmed: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # CODE → Retino's message, this run
    unconfirmed: int = 0
    shipments: int = 0
    shipment_problems: list[str] = field(default_factory=list)
    left_retino: list[str] = field(default_factory=list)  # archived/aborted in Storeden, still in Retino
    calls: int = 0
    requests: int = 0
    retries: int = 0
    responses_429: int = 0
    responses_5xx: int = 0
    elapsed: float = 0.0
    error: str | None = None
    payloads: list[dict] = field(default_factory=list)  # a dry run's JSON
    planned_shipments: int = 0  # a dry run's

    def summary(self) -> str:
        if self.payloads or self.status == "dry_run":
            return (f"push dry run: {len(self.payloads)} of {self.considered} orders would be sent "
                    f"({-(-len(self.payloads) // BULK_LIMIT)} calls), {self.planned_shipments} shipments; "
                    f"{self.unchanged} unchanged, {self.waiting} waiting for the next publish")
        line = (f"push {self.status}: {self.sent} sent ({self.confirmed} confirmed, {len(self.rejected)} rejected, "
                f"{self.unconfirmed} unconfirmed) in {self.calls} call{'' if self.calls == 1 else 's'}, "
                f"{self.shipments} shipments; {self.unchanged} unchanged")
        if self.waiting:
            line += f", {self.waiting} waiting for the next publish"
        if self.still_rejected:
            line += f", {self.still_rejected} still rejected"
        line += f"; {self.responses_429}x429, {self.responses_5xx}x5xx, {self.retries} retries; {self.elapsed:.1f}s"
        if self.error:
            line += f"; stopped: {self.error}"
        return line


@dataclass
class _Outgoing:
    candidate: PushCandidate
    key: str
    digest: str
    payload: dict


# -- keys ---------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _own_fingerprint() -> bytes:
    return hashlib.blake2b(Path(__file__).read_bytes(), digest_size=16).digest()


def push_key(published_key: str, store_id: str, phrases: Iterable[str], history: Iterable[ObservedStatus]) -> str:
    """The key of everything one order's JSON is made from: its published source (which covers the
    mapping context and code), the store id, the pickup phrases, its observed statuses, this module."""
    digest = hashlib.blake2b(_own_fingerprint(), digest_size=16)
    parts = [published_key, store_id, "\x1f".join(phrases), *(f"{h.status}@{h.seen_at!r}" for h in history)]
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def carrier_of(tracking: Any, number: str) -> str | None:
    """The courier tracking.json names for the parcel `number` (its `courier`), if any."""
    for source in tracking if isinstance(tracking, list) else [tracking]:
        if isinstance(source, dict) and number.casefold() in {n.casefold() for n in package_numbers(source)}:
            courier = source.get("courier")
            return courier.strip() if isinstance(courier, str) and courier.strip() else None
    return None


def order_payload(settings: Settings, order, history: list[ObservedStatus], order_ts: float | None) -> dict:
    """The JSON of one mapped order as the push sends it: its statuses from what sync observed."""
    phrases = settings.pickup_phrases or DEFAULT_PICKUP_PHRASES
    statuses = status_history([(h.status, h.seen_at) for h in history], pickup=is_pickup(order, phrases),
                              order_ts=order_ts)
    return order_json(order, store_id=settings.retino_store_id or DRY_RUN_STORE_ID, timezone=settings.zone,
                      statuses=statuses)


def retino_client(settings: Settings, **options) -> RetinoClient:
    return RetinoClient(settings.retino_token, settings.retino_store_id, base_url=settings.retino_url, **options)


# -- one push -----------------------------------------------------------------------------------

def run_push(settings: Settings, *, resend_all: bool = False, dry_run: bool = False,
             client: RetinoClient | None = None, store: Store | None = None, now: float | None = None) -> PushResult:
    """Send the window's changed orders to Retino (all of them with `resend_all`) under the data dir's lock.

    A dry run sends and records nothing and takes no lock; its JSON is in
    `result.payloads`. Raises PushStopped (wrong token, unknown store id,
    Retino unavailable) and PipelineBusy (another run holds the lock).
    """
    if not dry_run:
        settings.require_push()
    with nullcontext() if dry_run else hold(settings, command="feedsvc push"):
        own_store, own_client = store is None, client is None and not dry_run
        store = store or Store.open(settings)
        client = client or (None if dry_run else retino_client(settings))
        try:
            return _Push(settings, store, client, now=now, resend_all=resend_all, dry_run=dry_run).run()
        finally:
            if own_client and client is not None:
                client.close()
            if own_store:
                store.close()


class _Push:
    def __init__(self, settings: Settings, store: Store, client: RetinoClient | None, *, now: float | None,
                 resend_all: bool, dry_run: bool):
        self.settings, self.store, self.client = settings, store, client
        self.fixed_now, self.resend_all, self.dry_run = now, resend_all, dry_run
        self.now = time.time() if now is None else now
        self.store_id = settings.retino_store_id or DRY_RUN_STORE_ID
        self.phrases = settings.pickup_phrases or DEFAULT_PICKUP_PHRASES
        self.result = PushResult(status="dry_run" if dry_run else "ok")

    def clock(self) -> float:
        return time.time() if self.fixed_now is None else self.fixed_now

    def run(self) -> PushResult:
        started = time.monotonic()
        before = self._client_figures()
        run_id = None if self.dry_run else self.store.start_push_run()
        try:
            self._send_changed()
            self._send_shipments()
            self._report_left_retino()
        except (RetinoAuthError, RetinoUnknownStore, RetinoUnavailable) as stop:
            self.result.status = ("auth_failed" if isinstance(stop, RetinoAuthError) else
                                  "unknown_store" if isinstance(stop, RetinoUnknownStore) else "unavailable")
            self.result.error = str(stop)
            raise PushStopped(str(stop), self.result) from None
        except BaseException as exc:
            self.result.status, self.result.error = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._count_calls(before)
            self.result.elapsed = time.monotonic() - started
            if self.result.status == "ok" and self.result.rejected:
                self.result.status = "rejected"
            if run_id is not None:
                r = self.result
                self.store.finish_push_run(run_id, status=r.status, sent=r.sent, confirmed=r.confirmed,
                                           rejected=len(r.rejected), unconfirmed=r.unconfirmed, shipments=r.shipments,
                                           calls=r.calls, requests=r.requests, responses_429=r.responses_429,
                                           responses_5xx=r.responses_5xx, error=r.error)
        log.info(self.result.summary())
        return self.result

    # -- which orders, and their JSON -------------------------------------------------------------
    def _send_changed(self) -> None:
        settings, store = self.settings, self.store
        context = mapping_context(settings, store)
        build_key = context_key(context.fingerprint())
        since_ts = int(self.now - settings.days * 86400)
        histories = store.window_status_histories(since_ts)
        batch: list[_Outgoing] = []
        alone: list[_Outgoing] = []  # a bulk answer passed over them in silence: POST /orders answers for each
        refreshed: list[tuple] = []
        for candidate in store.push_candidates(since_ts, settings.exclude_statuses):
            if candidate.status is None or not is_pushed(candidate.status):
                continue
            self.result.considered += 1
            history = histories.get(candidate.order_id) or \
                [ObservedStatus(candidate.status, float(candidate.order_ts or self.now), "order_date")]
            key = push_key(candidate.source_key, self.store_id, self.phrases, history)
            if not self.resend_all and self._settled(candidate, key=key):
                continue
            stored = store.get_order(candidate.order_id)
            if stored is None or source_key(build_key, stored) != candidate.source_key:
                self.result.waiting += 1  # its published fragment is older than its texts
                continue
            try:
                order = map_order(stored.raw, tracking=stored.tracking, summary=stored.summary, context=context).order
            except MappingError as exc:  # published from these very texts, so only if the code changed under us
                log.warning("order %s no longer maps (%s); it waits for the next publish", candidate.order_id, exc)
                self.result.waiting += 1
                continue
            payload = order_payload(settings, order, history, candidate.order_ts)
            digest = payload_hash(payload)
            if not self.resend_all and self._settled(candidate, digest=digest):
                if candidate.state == "confirmed":
                    refreshed.append((key, candidate.source_key, candidate.order_id))
                continue
            outgoing = _Outgoing(candidate, key, digest, payload)
            if candidate.unanswered and not self.dry_run:
                alone.append(outgoing)
                continue
            batch.append(outgoing)
            if len(batch) == BULK_LIMIT:
                self._send(batch)
                batch = []
        if batch:
            self._send(batch)
        for start in range(0, len(alone), BULK_LIMIT):
            self._send(alone[start:start + BULK_LIMIT], one_by_one=True)
        if refreshed and not self.dry_run:
            store.refresh_push_keys(refreshed)

    def _settled(self, candidate: PushCandidate, *, key: str | None = None, digest: str | None = None) -> bool:
        """Whether Retino has this JSON already (confirmed), or refused it lately: by its inputs' key or its hash."""
        if candidate.state == "confirmed" and (candidate.push_key == key if key else candidate.payload_hash == digest):
            self.result.unchanged += 1
            return True
        recent = (candidate.error_at or 0) > self.now - RETRY_REJECTED_AFTER
        if candidate.state == "rejected" and recent and \
                (candidate.push_key == key if key else candidate.error_hash == digest):
            self.result.still_rejected += 1
            return True
        return False

    # -- sending and recording ---------------------------------------------------------------------
    def _send(self, batch: list[_Outgoing], *, one_by_one: bool = False) -> None:
        if self.dry_run:
            self.result.payloads.extend(item.payload for item in batch)
            return
        assert self.client is not None  # only a dry run has none
        try:
            outcomes = self.client.upsert_all([item.payload for item in batch],
                                              batch_size=1 if one_by_one else BULK_LIMIT)
        except RetinoError as stop:
            # what was answered is kept; the rest had no answer at all and simply goes again next time
            self._record([item for item in batch if item.payload["code"] in stop.results], stop.results)
            raise
        faults.reached("retino-answered")
        self._record(batch, outcomes)

    def _record(self, batch: list[_Outgoing], outcomes) -> None:
        """Each order's outcome; one the answer did not mention is `unanswered` and goes alone next time,
        so a Retino whose bulk answers name no orders costs single calls once, not every order every push."""
        confirmed, rejected, unconfirmed = [], [], []
        for item in batch:
            candidate, code = item.candidate, item.payload["code"]
            outcome = outcomes.get(code, UNCONFIRMED)
            if isinstance(outcome, Confirmed):
                confirmed.append((candidate.order_id, code, outcome.id, item.key, candidate.source_key, item.digest))
                if candidate.retino_code and candidate.retino_code != code:
                    log.warning("order %s is now CODE %s; Retino also keeps it as %s", candidate.order_id, code,
                                candidate.retino_code)
            elif isinstance(outcome, Rejected):
                rejected.append((candidate.order_id, code, item.key, item.digest, outcome.message))
                self.result.rejected[code] = outcome.message
                log.warning("Retino rejected order %s: %s", code, outcome.message)
            else:
                unconfirmed.append(candidate.order_id)
        now = self.clock()
        self.store.record_push_confirmed(confirmed, now)
        self.store.record_push_rejected(rejected, now)
        self.store.record_push_unanswered(unconfirmed)
        self.result.sent += len(confirmed) + len(rejected) + len(unconfirmed)
        self.result.confirmed += len(confirmed)
        self.result.unconfirmed += len(unconfirmed)

    def _send_shipments(self) -> None:
        """Each package number of an order Retino has, sent once as a shipment (FEEDSVC_RETINO_SHIPMENTS)."""
        if not self.settings.retino_shipments:
            return
        since_ts = int(self.now - self.settings.days * 86400)
        without_id = failures_in_a_row = 0
        for candidate in self.store.push_candidates(since_ts, self.settings.exclude_statuses):
            numbers = [n for n in candidate.packages if n not in candidate.shipments]
            if not numbers or candidate.state != "confirmed" or not is_pushed(candidate.status):
                continue
            if self.dry_run:
                self.result.planned_shipments += len(numbers)
                continue
            if not candidate.retino_id:
                without_id += 1
                continue
            stored = self.store.get_order(candidate.order_id)
            tracking = stored.tracking if stored else None
            assert self.client is not None  # only a dry run has none
            for number in numbers:
                try:
                    self.client.create_shipment(candidate.retino_id, number, carrier_of(tracking, number))
                except RetinoNotFound as missing:
                    problem = (f"Retino answered 404 to POST /tracking-shipping ({missing}); package numbers are "
                               "not sent as shipments for the rest of this push (FEEDSVC_RETINO_SHIPMENTS=0 turns "
                               "them off)")
                    log.warning(problem)
                    self.result.shipment_problems.append(problem)
                    return
                except RetinoRejected as refused:  # kept as done, with Retino's reason: the same call would fail again
                    self.store.record_shipments(candidate.order_id, [number], error=f"{number}: {refused}")
                    self.result.shipment_problems.append(f"{candidate.code} parcel {number}: {refused}")
                    continue
                except RetinoUnavailable:
                    # Not sent, or sent but not answered: it goes again next push. Retino being down stops us.
                    failures_in_a_row += 1
                    if failures_in_a_row >= SHIPMENT_FAILURES_TO_STOP:
                        raise
                    continue
                faults.reached("shipment-sent")
                self.store.record_shipments(candidate.order_id, [number])  # each as it goes: a crash repeats one
                self.result.shipments += 1
                failures_in_a_row = 0
        if without_id:
            problem = (f"Retino's answers named no order id for {without_id} orders with package numbers; "
                       "their shipments wait until one does")
            log.warning(problem)
            self.result.shipment_problems.append(problem)

    def _report_left_retino(self) -> None:
        """Orders in Retino that Storeden archived or aborted since: reported once each, never deleted."""
        leaving = NOT_PUSHED | frozenset(self.settings.exclude_statuses)
        for row in self.store.orders_leaving_retino(leaving):
            name = STATUS_NAMES.get(row["status"], str(row["status"]))
            message = (f"{row['retino_code'] or row['order_id']} is {name} in Storeden but Retino has it "
                       f"(id {row['retino_id'] or 'unknown'}); feedsvc never deletes orders in Retino")
            self.result.left_retino.append(message)
            if not self.dry_run:
                log.warning(message)
                self.store.mark_left_retino(row["order_id"], row["status"], self.clock())

    # -- figures -------------------------------------------------------------------------------------
    def _client_figures(self) -> tuple:
        stats = self.client.stats if self.client is not None else None
        if stats is None:
            return (0, 0, 0, 0, 0)
        return (sum(stats.calls.values()), stats.requests, stats.retries, stats.responses_429, stats.responses_5xx)

    def _count_calls(self, before: tuple) -> None:
        after = self._client_figures()
        (self.result.calls, self.result.requests, self.result.retries, self.result.responses_429,
         self.result.responses_5xx) = (a - b for a, b in zip(after, before))


def describe_left(row) -> str:
    """One line for an order in Retino that Storeden archived or aborted since."""
    name = STATUS_NAMES.get(row["left_status"], str(row["left_status"]))
    return f"{row['retino_code'] or row['order_id']}: {name} in Storeden since the push; still in Retino"
