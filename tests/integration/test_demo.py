"""`feedsvc demo --check` (what a new user's `make run` starts, checked and stopped): both modes work.

The demo also downloads its feed once, the way Retino will, so a new user's overview shows a fetch: the demo's
download is in the delivery log, by an agent that says what it is."""

import os

import pytest

from feedsvc.delivery import DeliveryLog
from feedsvc.demo import DEMO_USER_AGENT
from tests.helpers.servers import free_port, run_feedsvc


@pytest.mark.slow
def test_demo_check_serves_the_feed_and_pushes_to_the_retino_simulator(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = run_feedsvc(["demo", "--check", "--orders", "60", "--port", str(free_port()), "--data-dir",
                    str(tmp_path / "demo")], env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "fetched: the feed once, as Retino would (200, " in done.stdout
    with DeliveryLog(tmp_path / "demo" / "delivery.sqlite3") as log:
        rows, _ = log.page()
    fetched = [row for row in rows if row.user_agent == DEMO_USER_AGENT]
    assert [(row.route, row.status, row.method) for row in fetched] == [("basic", 200, "GET")]
    assert fetched[0].bytes > 0 and fetched[0].agent_name.startswith("feedsvc-demo/")

    out = done.stdout
    assert "feedsvc demo: feed mode and push mode, both on" in out
    assert "Push mode: " in out and "/_sandbox/orders" in out and "every 60 s" in out
    assert "check: all " in out and "orders of the feed are in the Retino simulator and agree" in out
    assert "0 errors" in out
    # A fresh demo creates its data private from the start: nothing to tighten, nothing to warn about.
    assert "readable by others" not in done.stderr
    assert (tmp_path / "demo").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "demo" / "tls").stat().st_mode & 0o777 == 0o700
