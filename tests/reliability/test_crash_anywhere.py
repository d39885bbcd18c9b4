"""SIGKILL at chosen points of the sync and of the publish: the next run finishes, nothing is lost, the
store and the published snapshot are consistent at every moment, and the end equals an uninterrupted run.

The kills are exact, not timed: each killed run carries FEEDSVC_FAULT_KILL_AT
(feedsvc/faults.py), so it dies at the k-th visit of a named point, whatever
the machine's speed. Every round must really die there (exit by SIGKILL).
"""

import shutil
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.faults import POINTS, VARIABLE
from feedsvc.pipeline import pipeline_running
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.sync import run_sync
from tests.helpers.servers import base_env, run_feedsvc, storeden_env
from tests.helpers.snapshot_watch import SnapshotWatcher, check_snapshot_once

# Kills during a first backfill (a fresh store): (what it proves, command, point:k).
BACKFILL_KILLS = [
    ("during listing", ["sync"], "list-page:1"),
    ("during the details", ["sync"], "storeden-response:30"),
    ("between details and tracking", ["sync"], "details-saved:5"),
    ("during tracking", ["sync"], "tracking-response:5"),
    ("during the fragment save", ["sync", "--publish"], "fragments-saving:10"),
    ("mid-publish, before CURRENT moves", ["sync", "--publish"], "feed-written:1"),
]
# Kills once the store is synced and published, after the shop moved on.
LATER_KILLS = [
    ("during an incremental run's details", ["sync", "--publish"], "storeden-response:3"),
    ("between an incremental run's details and tracking", ["sync"], "details-saved:1"),
    ("during an incremental run's tracking", ["sync", "--publish"], "tracking-response:2"),
    ("a re-publish before CURRENT moves", ["render", "--full"], "feed-written:1"),
    ("a re-publish's fragment save", ["render", "--full"], "fragments-saving:1"),
]


def _env(sandbox, data_dir):
    return base_env(data_dir, **storeden_env(sandbox))


def _reference(sandbox, data_dir: Path, now: float):
    """One uninterrupted sync and publish in `data_dir`: (raw orders of the store, feed bytes)."""
    settings = load_settings(_env(sandbox, data_dir))
    assert run_sync(settings, progress=False).status == "ok"
    build_and_publish(settings, now=now)
    with Store.open(settings) as store:
        raw = store.raw_snapshot()
    return raw, current_snapshot(settings.snapshots_dir).xml_path.read_bytes()


def _assert_consistent(data_dir: Path, current_before: str | None) -> None:
    """What must hold right after a kill, before anything runs again."""
    snapshots = data_dir / "snapshots"
    assert check_snapshot_once(snapshots) == current_before  # whole, and still the last good one
    assert not [p for p in snapshots.iterdir() if p.name == "CURRENT.tmp"]
    with sqlite3.connect(data_dir / "feedsvc.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # tracking is stored only after the details it belongs to
        assert db.execute("SELECT COUNT(*) FROM orders WHERE tracking_json IS NOT NULL AND raw_json IS NULL"
                          ).fetchone()[0] == 0
        # a cached fragment always has the mapped columns the dashboard searches (one transaction)
        assert db.execute("SELECT COUNT(*) FROM fragments f JOIN orders o USING (order_id) WHERE o.code IS NULL"
                          ).fetchone()[0] == 0
    assert not pipeline_running(load_settings(base_env(data_dir)))  # the kill freed the lock


def _kill_then_resume(sandbox, data_dir: Path, command, kill_at: str) -> None:
    env = _env(sandbox, data_dir)
    current_before = (current_snapshot(data_dir / "snapshots").name
                      if current_snapshot(data_dir / "snapshots") else None)
    with SnapshotWatcher(data_dir / "snapshots") as watcher:
        killed = run_feedsvc([*command, "--quiet"] if command[0] == "sync" else command, {**env, VARIABLE: kill_at})
        assert killed.returncode == -signal.SIGKILL, \
            f"{kill_at} was never reached by {command}: exit {killed.returncode}\n{killed.stdout}{killed.stderr}"
        _assert_consistent(data_dir, current_before)
        resumed = run_feedsvc(["sync", "--publish", "--quiet"], env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not watcher.report.violations, watcher.report.violations[:3]


def _assert_equal_to(reference, data_dir: Path, sandbox, now: float) -> None:
    settings = load_settings(_env(sandbox, data_dir))
    build_and_publish(settings, now=now)
    with Store.open(settings) as store:
        assert store.raw_snapshot() == reference[0]
        unmapped = store.db.execute("SELECT COUNT(*) FROM fragments f JOIN orders o USING (order_id)"
                                    " WHERE o.code IS NULL").fetchone()[0]
    assert unmapped == 0
    assert current_snapshot(settings.snapshots_dir).xml_path.read_bytes() == reference[1]


# The push's own points are killed in test_push_crash.py, which checks them in its turn.
PUSH_POINTS = {"retino-answered", "shipment-sent"}


def test_every_kill_point_is_covered():
    covered = {point.split(":")[0] for _, _, point in BACKFILL_KILLS + LATER_KILLS}
    assert covered == set(POINTS) - PUSH_POINTS


@pytest.fixture(scope="module")
def shop_and_base(tmp_path_factory):
    """A shop whose orders all lie well inside the window (no order near its edge), and its first reference.

    Its last event is an hour old, so a run that resumes with an incremental sync is told of no change,
    exactly like the uninterrupted reference (only orders_filter.json carries `locale`, hence LANGUAGE).
    """
    now = time.time() - 3600
    shop = Shop(seed=41, orders=110, now=now, days=6)
    base = tmp_path_factory.mktemp("base")
    with SandboxServer(shop, rate=(1000, 1.0)) as sandbox:
        reference = _reference(sandbox, base, now + 5)
    return shop, base, now + 5, reference


@pytest.mark.slow
@pytest.mark.parametrize("what, command, kill_at", BACKFILL_KILLS, ids=[k[0] for k in BACKFILL_KILLS])
def test_a_backfill_killed_then_resumed_equals_an_uninterrupted_one(tmp_path, start_storeden, shop_and_base,
                                                                     what, command, kill_at):
    shop, _, now, reference = shop_and_base
    sandbox = start_storeden(shop)
    assert run_feedsvc(["render"], _env(sandbox, tmp_path)).returncode == 0  # an empty first snapshot
    _kill_then_resume(sandbox, tmp_path, command, kill_at)
    _assert_equal_to(reference, tmp_path, sandbox, now)


@pytest.mark.slow
def test_later_runs_killed_then_resumed_equal_an_uninterrupted_one(tmp_path, start_storeden, shop_and_base):
    shop, base, now, reference = shop_and_base
    crashed, uninterrupted = tmp_path / "crashed", tmp_path / "uninterrupted"
    shutil.copytree(base, crashed)  # both synced and published before the shop moves on
    shutil.copytree(base, uninterrupted)
    sandbox = start_storeden(shop)
    for what, command, kill_at in LATER_KILLS:
        if command[0] == "sync":
            # fresh work for each: new orders, status moves (shipped ones get parcels), new tracking
            moved = shop.advance(new_orders=3, status_changes=6, new_tracking=2)
            shipped = [i for i in moved["changed"] + moved["tracked"] if shop.orders[i].status in (3, 4)]
            assert len(shipped) >= 2, what
            reference = _reference(sandbox, uninterrupted, now)
        _kill_then_resume(sandbox, crashed, command, kill_at)
        _assert_equal_to(reference, crashed, sandbox, now)
