"""Tracking answers of every shape, through the real sync and publish: one PACKAGE_NUMBER per parcel, never a
separator, never the same parcel twice."""

import time

import pytest
from lxml import etree

from feedsvc.build import build_and_publish
from feedsvc.publish import current_snapshot
from feedsvc.sync import run_sync

TRACKINGS = [
    ({"courier": "GLS", "tracking": "JJD00011122 / JJD00011123"}, ["JJD00011122", "JJD00011123"]),
    ({"courier": "GLS", "tracking": "JJD00011122 - JJD00011123"}, ["JJD00011122", "JJD00011123"]),
    ({"courier": "BRT", "tracking": "084012345678912 | 084012345678913 — 084012345678914"},
     ["084012345678912", "084012345678913", "084012345678914"]),
    ({"courier": "DHL", "tracking": "JD0001;jd0001 ,JD0001\n+ JD0002"}, ["JD0001", "JD0002"]),
    ({"courier": "POSTE", "tracking": "RR-123-456-IT"}, ["RR-123-456-IT"]),
    ({"courier": "UPS", "tracking": ["1Z999AA10123456784", "1Z999AA10123456785", "/"]},
     ["1Z999AA10123456784", "1Z999AA10123456785"]),
    ([{"courier": "BRT", "tracking": "111"}, {"courier": "GLS", "tracking": "222 & 111"}], ["111", "222"]),
    ({"courier": "BRT", "tracking": 1234567876543}, ["1234567876543"]),
    ({"courier": "BRT", "tracking": " - "}, []),
]


@pytest.mark.shop(seed=27, orders=80)
def test_every_tracking_shape_gives_one_package_number_per_parcel(storeden_shop, storeden_settings):
    shop, settings = storeden_shop, storeden_settings
    shipped = [o for o in shop.by_date() if o.status in (3, 4) and o.ts > time.time() - 6 * 86400]
    assert len(shipped) >= len(TRACKINGS)
    for order, (tracking, _) in zip(shipped, TRACKINGS):
        order.tracking = tracking
    assert run_sync(settings, progress=False).status == "ok"
    result = build_and_publish(settings)
    root = etree.parse(str(current_snapshot(settings.snapshots_dir).xml_path)).getroot()
    packages = {order.findtext("CODE"): [p.text for p in order.iterfind("PACKAGE_NUMBER")] for order in root}
    for order, (_, expected) in zip(shipped, TRACKINGS):
        assert packages[order.short_id] == expected, order.tracking
    assert result.quarantined == 0
