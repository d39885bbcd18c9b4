"""A simulated clock for code that takes `clock` and `sleep`: a sleep moves the clock and is recorded, never
waited, so an hour-long backfill or a storm of retries costs no real time (tests and benchmarks alike)."""

from __future__ import annotations


class FakeTime:
    """`fake()` or `fake.time()` reads the clock; `fake.sleep(s)` records s and moves the clock on by it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
