"""`feedsvc demo --check` (what a new user's `make run` starts, checked and stopped): both modes work, and the
demo downloads its feed once, the way Retino will, so a new user's overview shows a fetch: the demo's download is
in the delivery log, by an agent that says what it is."""

import os

from feedsvc.delivery import DeliveryLog
from feedsvc.demo import DEMO_USER_AGENT
from tests.integration.servers import feedsvc, free_port


def test_demo_check_serves_the_feed_pushes_to_the_retino_simulator_and_fetches_once(tmp_path):
    data_dir = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDSVC_")}
    done = feedsvc(["demo", "--check", "--orders", "60", "--port", str(free_port()), "--data-dir",
                    str(data_dir)], env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "feedsvc demo: feed mode and push mode, both on" in out
    assert "Push mode: " in out and "/_sandbox/orders" in out and "every 60 s" in out
    assert "check: all " in out and "orders of the feed are in the Retino simulator and agree" in out
    assert "0 errors" in out
    assert "fetched: the feed once, as Retino would (200, " in out
    with DeliveryLog(data_dir / "delivery.sqlite3") as log:
        rows, _ = log.page()
    demo = [row for row in rows if row.user_agent == DEMO_USER_AGENT]
    assert [(row.route, row.status, row.method) for row in demo] == [("basic", 200, "GET")]
    assert demo[0].bytes > 0 and demo[0].agent_name.startswith("feedsvc-demo/")
