"""SIGKILL in the middle of a push (feedsvc/faults.py points): the next push finishes the work, Retino holds
every order exactly once, and nothing confirmed is sent again; a parcel whose answer was lost is sent again."""

import signal
import time
from collections import Counter

import pytest
from lxml import etree

from feedsvc.config import load_settings
from feedsvc.faults import POINTS, VARIABLE
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.shop import Shop
from tests.helpers.servers import base_env, retino_env, run_feedsvc, storeden_env

TOKEN, STORE = "rt_crash_0b3c9d", "main-shop"


@pytest.fixture
def rig(data_dir, start_storeden, start_retino):
    """Both simulators running, and the environment of a feedsvc that syncs from one and pushes to the other."""
    storeden = start_storeden(Shop(seed=17, orders=330, now=time.time() - 600, days=6))
    retino = start_retino(token=TOKEN, store_ids=(STORE,))
    return storeden, retino, base_env(data_dir, **storeden_env(storeden), **retino_env(retino))


def _feed(env):
    path = current_snapshot(load_settings(env).snapshots_dir).xml_path
    return {o.findtext("CODE"): o for o in etree.parse(str(path)).getroot().iterfind("ORDER")}


@pytest.mark.slow
def test_a_push_killed_between_an_answer_and_its_record_loses_and_duplicates_nothing(rig):
    _, retino, env = rig
    killed = run_feedsvc(["sync", "--publish"], {**env, VARIABLE: "retino-answered:2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    feed = _feed(env)
    assert len(feed) > 200 and len(retino.control("orders")) == 200  # two bulk calls arrived, the 2nd unrecorded
    again = run_feedsvc(["push"], env)
    assert again.returncode == 0, again.stderr
    arrived = {o["code"]: o for o in retino.control("orders")}
    assert set(arrived) == set(feed) and len(retino.control("orders")) == len(feed)
    assert Counter(o["writes"] for o in arrived.values()) == {2: 100, 1: len(feed) - 100}  # only those again
    calls = len(retino.control("calls"))
    assert run_feedsvc(["push"], env).returncode == 0 and len(retino.control("calls")) == calls
    with Store.open(load_settings(env)) as store:
        assert {c.state for c in store.push_candidates(0)} == {"confirmed"}


@pytest.mark.slow
def test_a_push_killed_after_a_shipment_sends_only_that_parcel_again(rig):
    _, retino, env = rig
    killed = run_feedsvc(["sync", "--publish"], {**env, VARIABLE: "shipment-sent:3"})
    assert killed.returncode == -signal.SIGKILL
    assert len(retino.control("shipments")) == 3
    assert run_feedsvc(["push"], env).returncode == 0
    feed = _feed(env)
    ids = {o["code"]: o["id"] for o in retino.control("orders")}
    expected = Counter((ids[code], p.text) for code, o in feed.items() for p in o.findall("PACKAGE_NUMBER"))
    sent = Counter((s["order"], s["tracking_number"]) for s in retino.control("shipments"))
    assert set(sent) == set(expected) and sum(sent.values()) == sum(expected.values()) + 1  # the lost answer


def test_the_push_kill_points_are_the_ones_killed_here():
    push_points = {name for name, what in POINTS.items() if "Retino" in what}
    assert push_points == {"retino-answered", "shipment-sent"}
