"""SIGKILL in the middle of a push (feedsvc/faults.py points): the next push finishes the work, Retino holds
every order exactly once, and nothing confirmed is sent again; a parcel whose answer was lost is sent again."""

import signal
import time
from collections import Counter

from lxml import etree

from feedsvc.config import load_settings
from feedsvc.faults import POINTS, VARIABLE
from feedsvc.publish import current_snapshot
from feedsvc.retino.sandbox import RetinoSandboxServer
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.store import Store
from tests.integration.servers import base_env, feedsvc

TOKEN, STORE = "rt_crash_0b3c9d", "main-shop"


def _rig(tmp_path):
    shop = Shop(seed=17, orders=330, now=time.time() - 600, days=6)
    storeden = SandboxServer(shop, rate=(1000, 1.0)).start()
    retino = RetinoSandboxServer(token=TOKEN, store_ids=(STORE,)).start()
    env = base_env(tmp_path / "data", FEEDSVC_STOREDEN_URL=storeden.url, FEEDSVC_STOREDEN_KEY=storeden.key,
                   FEEDSVC_STOREDEN_EXCHANGE=storeden.exchange, FEEDSVC_STOREDEN_RATE="1000/1",
                   FEEDSVC_RETINO_URL=retino.url, FEEDSVC_RETINO_TOKEN=TOKEN, FEEDSVC_RETINO_STORE_ID=STORE)
    return storeden, retino, env


def _feed(env):
    path = current_snapshot(load_settings(env).snapshots_dir).xml_path
    return {o.findtext("CODE"): o for o in etree.parse(str(path)).getroot().iterfind("ORDER")}


def test_a_push_killed_between_an_answer_and_its_record_loses_and_duplicates_nothing(tmp_path):
    storeden, retino, env = _rig(tmp_path)
    try:
        killed = feedsvc(["sync", "--publish"], {**env, VARIABLE: "retino-answered:2"})
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        feed = _feed(env)
        assert len(feed) > 200 and len(retino.control("orders")) == 200  # two bulk calls arrived, the 2nd unrecorded
        again = feedsvc(["push"], env)
        assert again.returncode == 0, again.stderr
        arrived = {o["code"]: o for o in retino.control("orders")}
        assert set(arrived) == set(feed) and len(retino.control("orders")) == len(feed)
        assert Counter(o["writes"] for o in arrived.values()) == {2: 100, 1: len(feed) - 100}  # only those again
        calls = len(retino.control("calls"))
        assert feedsvc(["push"], env).returncode == 0 and len(retino.control("calls")) == calls
        with Store.open(load_settings(env)) as store:
            assert {c.state for c in store.push_candidates(0)} == {"confirmed"}
    finally:
        storeden.stop()
        retino.stop()


def test_a_push_killed_after_a_shipment_sends_only_that_parcel_again(tmp_path):
    storeden, retino, env = _rig(tmp_path)
    try:
        killed = feedsvc(["sync", "--publish"], {**env, VARIABLE: "shipment-sent:3"})
        assert killed.returncode == -signal.SIGKILL
        assert len(retino.control("shipments")) == 3
        assert feedsvc(["push"], env).returncode == 0
        feed = _feed(env)
        ids = {o["code"]: o["id"] for o in retino.control("orders")}
        expected = Counter((ids[code], p.text) for code, o in feed.items() for p in o.findall("PACKAGE_NUMBER"))
        sent = Counter((s["order"], s["tracking_number"]) for s in retino.control("shipments"))
        assert set(sent) == set(expected) and sum(sent.values()) == sum(expected.values()) + 1  # the lost answer
    finally:
        storeden.stop()
        retino.stop()


def test_the_push_kill_points_are_the_ones_killed_here():
    push_points = {name for name, what in POINTS.items() if "Retino" in what}
    assert push_points == {"retino-answered", "shipment-sent"}
