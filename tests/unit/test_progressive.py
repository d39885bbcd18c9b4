"""The publish cadence during a backfill, on a fake clock: when it publishes, when it waits, and that a failed
publish never stops the backfill."""

import itertools

from feedsvc.build import BuildError
from feedsvc.progressive import EVERY, FIRST_AFTER, ProgressivePublisher


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Result:
    def __init__(self, orders):
        self.orders = orders

    def summary(self):
        return f"{self.orders} orders"


def _publisher(clock, outcomes=None):
    calls = []

    def publish():
        calls.append(clock.now)
        outcome = (outcomes or {}).get(len(calls))
        if isinstance(outcome, Exception):
            raise outcome
        return Result(len(calls))
    return ProgressivePublisher(publish, clock=clock), calls


def test_first_publish_waits_a_minute_and_a_completed_order_then_doubles_up_to_ten_minutes():
    clock = Clock()
    publisher, calls = _publisher(clock)
    publisher.checkpoint(5, idle=True)  # at once: too early
    clock.now += FIRST_AFTER - 1
    publisher.checkpoint(6, idle=True)
    assert calls == []
    clock.now += 1
    publisher.checkpoint(6, idle=False)  # due, but the throttle would let the next order through now
    assert calls == []
    publisher.checkpoint(7, idle=True)
    assert calls == [1060.0]
    done = 7
    for _ in range(4000):  # one order every 6 s of simulated time, the throttle pausing every 5th
        clock.now += 6
        done += 1
        publisher.checkpoint(done, idle=done % 5 == 0)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    nominal = [60, 120, 240, 480] + [EVERY] * (len(gaps) - 4)
    # each one at the throttle's first pause in the last 90 s (or half the gap) before its time, never later
    assert all(n - min(90, n / 2) <= g <= n for g, n in zip(gaps, nominal)), gaps
    assert len(gaps) > 30
    assert [p[1].orders for p in publisher.published] == list(range(1, len(calls) + 1))


def test_nothing_new_means_no_publish_and_an_unidle_throttle_is_overridden_at_the_due_time():
    clock = Clock()
    publisher, calls = _publisher(clock)
    clock.now += FIRST_AFTER
    publisher.checkpoint(0, idle=True)  # nothing complete yet
    assert calls == []
    for _ in range(20):  # never idle (a generous throttle): published anyway once the hard time passes
        clock.now += 6
        publisher.checkpoint(1 + len(calls), idle=False)
    assert len(calls) == 1 and calls[0] <= 1000 + FIRST_AFTER + 90 + 6


def test_a_failed_publish_is_logged_and_the_next_one_comes_on_time(caplog):
    clock = Clock()
    publisher, calls = _publisher(clock, outcomes={1: BuildError("the feed failed its check")})
    clock.now += FIRST_AFTER
    publisher.checkpoint(1)
    assert len(calls) == 1 and publisher.published == []
    assert "the backfill goes on" in caplog.text
    clock.now += FIRST_AFTER
    publisher.checkpoint(2)
    assert len(calls) == 2 and len(publisher.published) == 1
