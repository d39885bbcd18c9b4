"""`feedsvc demo` (what `make run` runs) downloads its feed once, the way Retino will, so a new user's overview
shows a fetch: the demo's download is in the delivery log, by an agent that says what it is."""

from feedsvc.delivery import DeliveryLog
from feedsvc.demo import DEMO_USER_AGENT
from tests.integration.servers import base_env, feedsvc, free_port


def test_the_demo_fetches_its_feed_once_like_retino(tmp_path):
    data_dir = tmp_path / "demo"
    env = {k: v for k, v in base_env(tmp_path).items() if not k.startswith("FEEDSVC_")}
    done = feedsvc(["demo", "--check", "--orders", "30", "--port", str(free_port()), "--data-dir", str(data_dir)],
                   env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "fetched: the feed once, as Retino would (200, " in done.stdout
    with DeliveryLog(data_dir / "delivery.sqlite3") as log:
        rows, _ = log.page()
    demo = [row for row in rows if row.user_agent == DEMO_USER_AGENT]
    assert [(row.route, row.status, row.method) for row in demo] == [("basic", 200, "GET")]
    assert demo[0].bytes > 0 and demo[0].agent_name.startswith("feedsvc-demo/")
