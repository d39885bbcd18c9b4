"""Push mode for tests: both simulators and the settings between them (Rig)."""

from __future__ import annotations

from lxml import etree

from feedsvc.config import load_settings
from feedsvc.pipeline import run_pipeline
from feedsvc.publish import current_snapshot
from tests.helpers.servers import base_env, retino_env, storeden_env

TOKEN = "rt_live_5a8c1e0b9d7f4263"
STORE = "main-shop"


class Rig:
    """Both simulators (started by the tests' start_storeden and start_retino fixtures) and the settings that
    point feedsvc at them."""

    def __init__(self, data_dir, storeden, retino, *, token=TOKEN, store_id=STORE, **extra):
        self.shop, self.storeden, self.retino = storeden.shop, storeden, retino
        self.env = base_env(data_dir, **storeden_env(storeden), **retino_env(retino, token=token, store_id=store_id),
                            **extra)
        self.settings = load_settings(self.env)

    def publish(self):
        """Sync and publish without pushing; the published feed's <ORDER>s by CODE."""
        outcome = run_pipeline(self.settings, push=False, progress=False)
        assert outcome.sync.status == "ok" and outcome.publish_error is None
        return self.feed()

    def feed(self):
        path = current_snapshot(self.settings.snapshots_dir).xml_path
        return {o.findtext("CODE"): o for o in etree.parse(str(path)).getroot().iterfind("ORDER")}

    def calls(self, since=0):
        return list(self.retino.control("calls")[since:])

    def orders(self):
        return {o["code"]: o for o in self.retino.control("orders")}

    def order_calls(self, calls):
        return [c for c in calls if c["path"].endswith(("/orders", "/orders/bulk"))]

    def sim(self, code):
        return next(o for o in self.shop.orders.values() if o.short_id == code)
