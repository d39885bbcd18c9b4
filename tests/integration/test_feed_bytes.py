"""The feed of the simulator's default shop, synced over a real socket and built at a fixed moment, is byte
for byte the one feedsvc published before: a refactoring that changes a byte of it changes behaviour.

When the feed is meant to change (a new rule, a mapping fix), say so in the commit and put the new digest here.
"""

import hashlib

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import current_snapshot
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from tests.helpers.servers import storeden_env

NOW = 1_790_000_000  # 2026-09-21 14:13:20 UTC
# SandboxServer()'s shop (seed 1, 200 orders); the digest of commit 78754ae's build, unchanged since.
EXPECTED = "24fcb32a69b1556eb046752ff200ebc7e80de888e42bc8fab133216ef71431a1"


def test_the_default_shop_s_feed_is_unchanged(env, start_storeden):
    sandbox = start_storeden(Shop(seed=1, orders=200, now=NOW))
    settings = load_settings({**env, **storeden_env(sandbox)})
    assert run_sync(settings, progress=False, now=NOW).status == "ok"
    result = build_and_publish(settings, now=NOW)
    published = current_snapshot(settings.snapshots_dir).xml_path.read_bytes()
    assert result.orders == 138 and result.quarantined == 0
    assert hashlib.sha256(published).hexdigest() == EXPECTED
