"""Hypothesis-made hostile Storeden orders: the published feed always validates, and each hostile order
is either in it or quarantined with a reason."""

import tempfile
import time

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from lxml import etree

from feedsvc import jsonutil
from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from tests.helpers.hostile_orders import hostile_order
from tests.helpers.servers import ROOT

SCHEMA = etree.XMLSchema(etree.parse(str(ROOT / "schema" / "retino-feed.xsd")))
GOOD = jsonutil.loads((ROOT / "tests" / "fixtures" / "storeden" / "seed_order.json").read_text())
ORDER_SEC = int(time.time()) - 3 * 86400


def _examples(request) -> int:
    return 5000 if request.config.getoption("--slow") else 500


def _put(store: Store, order: dict, order_id: str, short_id: str) -> None:
    store.upsert_summary(order_id, status=4, order_ts=ORDER_SEC, short_id=short_id, locale="it_IT",
                         summary={"orderID": order_id, "short_id": short_id, "status": 4})
    store.save_order_raw(order_id, jsonutil.dumps(order), status=4, order_ts=ORDER_SEC)
    store.save_tracking_raw(order_id, None, status=4)  # asked, as the sync does for a delivered order: none


def check(order: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"FEEDSVC_DATA_DIR": folder})
        with Store.open(settings) as store:
            for n in (1, 2):
                good = dict(GOOD, orderID=f"good_{n}", orderDate={"sec": ORDER_SEC, "usec": 0})
                _put(store, good, f"good_{n}", f"G{n}")
            _put(store, order, "hostile_1", "H1")
            build_and_publish(settings, store=store)
            quarantined = {q.order_id: q.reason for q in store.list_quarantine()}
        document = etree.parse(str(current_snapshot(settings.snapshots_dir).xml_path))
        assert SCHEMA.validate(document), SCHEMA.error_log
        codes = [e.text for e in document.getroot().iterfind("ORDER/CODE")]
        assert {"G1", "G2"} <= set(codes)
        assert ("H1" in codes) != ("hostile_1" in quarantined)
        if "hostile_1" in quarantined:
            assert quarantined["hostile_1"].strip()


@pytest.fixture
def example_count(request):
    return _examples(request)


@pytest.mark.slow
def test_hostile_payloads(example_count):
    @hsettings(max_examples=example_count, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(hostile_order("hostile_1", ORDER_SEC))
    def run(order):
        check(order)

    run()
