"""Publishing while a backfill runs: the feed grows as the orders come in, instead of after hours.

The pipeline hands `ProgressivePublisher.checkpoint` to the sync, which calls
it between two orders of a full list pass (backfill.py). It publishes what
is complete when a publish is due, inside the same locked run, through the
same build, check and atomic publish as any other (build.build_and_publish):

- the first once the run is FIRST_AFTER seconds old and at least one order
  is complete (at Storeden's 5 requests a minute that is a handful of the
  most urgent orders; a small shop is often done by then and gets its whole
  feed at the end of the run instead);
- then after 1, 2, 4 and 8 more minutes, and from there every EVERY seconds
  (10 minutes), each time only if an order was completed since;
- a publish is due from EARLY seconds (90, or half the gap) before that
  time, and happens at the first moment in there when the throttle makes the
  sync wait anyway (Storeden's budget comes in bursts: 5 requests, then a
  minute's wait), so it takes every order of the burst along and costs the
  sync nothing; at the time itself it happens whatever the throttle says;
- the pipeline's usual publish at the end of the run completes the series.

A publish that fails is logged and recorded like any other; the backfill
goes on and the previous snapshot stays served. The clock is injectable so
tests run simulated hours in seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feedsvc.build import BuildResult

log = logging.getLogger("feedsvc.progressive")

FIRST_AFTER = 60.0
EVERY = 600.0
EARLY = 90.0


@dataclass
class ProgressivePublisher:
    publish: Callable[[], BuildResult]  # builds and publishes a snapshot; raises BuildError / PublishError
    clock: Callable[[], float] = time.monotonic
    first_after: float = FIRST_AFTER
    every: float = EVERY
    on_publish: Callable[[float, BuildResult], None] | None = None  # (seconds into the run, BuildResult)
    published: list = field(default_factory=list)  # (seconds into the run, BuildResult) of each publish

    def __post_init__(self):
        self.started = self.clock()
        self._soft_due = self.started + self.first_after  # from here, at the throttle's next pause
        self._hard_due = self._soft_due + EARLY  # from here, at once
        self._gap = self.first_after
        self._done_at_last = 0

    def checkpoint(self, done: int, idle: bool = True) -> None:
        """`done` orders of the pass are complete; publish them when a publish is due.

        `idle`: the next request to Storeden would have to wait for the throttle.
        """
        now = self.clock()
        if now < self._soft_due or done <= self._done_at_last or not (idle or now >= self._hard_due):
            return
        from feedsvc.build import BuildError
        from feedsvc.publish import PublishError

        self._done_at_last = done
        self._gap = min(self._gap * 2 if self.published else self._gap, self.every)
        try:
            result = self.publish()
        except (BuildError, PublishError) as exc:
            log.error("publishing during the backfill failed: %s; the backfill goes on", exc)
        else:
            elapsed = now - self.started
            self.published.append((elapsed, result))
            log.info("published during the backfill, %.0f s in: %s", elapsed, result.summary())
            if self.on_publish is not None:
                self.on_publish(elapsed, result)
        self._hard_due = self.clock() + self._gap
        self._soft_due = self._hard_due - min(EARLY, self._gap / 2)
