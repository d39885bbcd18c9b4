"""The delivery log on its own: folding, bounds, totals that survive pruning, naming who fetched."""

import sqlite3

import pytest

from feedsvc.delivery import DeliveryLog, agent_name, status_text
from feedsvc.web.delivery import CountingBody


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def _record(log, **changes):
    values = {"route": "token", "status": 200, "sent": 1000, "duration": 0.01, "user_agent": "Retino/2.0",
              "client": "203.0.113.7"}
    values.update(changes)
    log.record(**values)


def test_failures_from_one_address_fold_into_one_row_with_a_count(tmp_path):
    clock = Clock()
    with DeliveryLog(tmp_path / "d.sqlite3", clock=clock) as log:
        for _ in range(500):
            _record(log, status=404, sent=10)
            clock.now += 1
        _record(log, status=404, client="198.51.100.9")  # another address: its own row
        _record(log, status=429)  # another status: its own row
        _record(log, status=200)  # successes are never folded
        _record(log, status=200)
        rows, total = log.page()
        assert total == 5
        folded = next(r for r in rows if r.status == 404 and r.client == "203.0.113.7")
        assert folded.count == 500 and folded.bytes == 5000 and folded.at - folded.first_at == 499
        assert log.totals() == {200: 2, 404: 501, 429: 1}


def test_ipv6_failures_fold_per_64_and_ipv4_mapped_addresses_as_ipv4(tmp_path):
    with DeliveryLog(tmp_path / "d.sqlite3", clock=Clock()) as log:
        for host in range(1, 50):
            _record(log, status=401, client=f"2001:db8:1:2::{host:x}")
        _record(log, status=401, client="::ffff:203.0.113.7")
        _record(log, status=401, client="203.0.113.7")
        assert log.rows() == 2


def test_a_fold_ends_after_an_hour_of_quiet_and_a_row_spans_a_day_at_most(tmp_path):
    clock = Clock()
    with DeliveryLog(tmp_path / "d.sqlite3", clock=clock) as log:
        _record(log, status=404)
        clock.now += 3601
        _record(log, status=404)
        assert log.rows() == 2
        for _ in range(30):  # one failure every 50 minutes for 25 hours
            clock.now += 3000
            _record(log, status=404)
        assert 3 <= log.rows() <= 4


def test_the_log_keeps_at_most_max_rows_and_the_totals_keep_counting(tmp_path):
    clock = Clock()
    with DeliveryLog(tmp_path / "d.sqlite3", clock=clock, max_rows=300) as log:
        for i in range(1000):
            _record(log, status=404, client=f"10.0.{i // 250}.{i % 250}")
            clock.now += 0.5
        assert log.rows() == 300
        rows, _ = log.page(per_page=1)
        assert rows[0].client == "10.0.3.249"  # the newest stay
        assert log.totals() == {404: 1000}


def test_rows_older_than_thirty_days_go_but_the_last_success_stays(tmp_path):
    clock = Clock()
    with DeliveryLog(tmp_path / "d.sqlite3", clock=clock) as log:
        _record(log, status=304, user_agent="Retino/2.0", sent=0)
        clock.now += 31 * 86400
        log.prune()
        assert log.rows() == 0
        last = log.last_success()
        assert last is not None and last.status == 304 and last.agent_name == "Retino"
        assert log.totals() == {304: 1}


def test_per_day_counts_requests_by_status_and_folded_rows_by_their_count(tmp_path):
    clock = Clock(86400 * 20_000 + 3600)
    with DeliveryLog(tmp_path / "d.sqlite3", clock=clock) as log:
        _record(log, status=200)
        for _ in range(7):
            _record(log, status=401)
        clock.now += 86400
        _record(log, status=304)
        assert log.per_day(0) == {20_000: {200: 1, 401: 7}, 20_001: {304: 1}}


def test_a_broken_log_file_never_raises(tmp_path):
    path = tmp_path / "d.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    log = DeliveryLog(path)
    _record(log)  # logged, not raised
    with pytest.raises(sqlite3.DatabaseError):
        log.rows()


def test_the_file_is_private(tmp_path):
    with DeliveryLog(tmp_path / "d.sqlite3") as log:
        _record(log)
    assert (tmp_path / "d.sqlite3").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("agent, name", [
    ("Retino/2.1 (+https://retino.example)", "Retino"),
    ("RetinoFeedImporter/1.0", "Retino"),
    ("feedsvc-demo/0.1.0 (one download at start, the way Retino fetches the feed)",
     "feedsvc-demo/0.1.0 (one download at start, the way Retino fetches the feed)"),
    ("curl/8.5.0", "curl/8.5.0"),
    ("", "a client without a user agent"),
    ("x" * 200, "x" * 79 + "…"),
])
def test_who_fetched_is_retino_when_its_agent_says_so_else_the_agent(agent, name):
    assert agent_name(agent) == name


def test_statuses_read_as_people_say_them():
    assert status_text(304) == "304 not modified" and status_text(418) == "418"


def test_a_counting_body_counts_only_what_the_server_took():
    got = []
    body = CountingBody(iter([b"a" * 10, b"b" * 20, b"c" * 30]), got.append)
    chunks = iter(body)
    next(chunks), next(chunks)  # the server took the first and asked for the second, then the client left
    body.close()
    body.close()
    assert got == [10]
    full = CountingBody([b"a" * 10, b"b" * 20], got.append)
    assert b"".join(full) == b"a" * 10 + b"b" * 20
    full.close()
    assert got == [10, 30]
