"""SIGKILL the sync and the publisher at 20 seeded points: every next run completes, nothing is lost,
and the published snapshot stays whole at every moment."""

import random
import signal
import subprocess
import sys
import time

from feedsvc.build import build_and_publish
from feedsvc.config import load_settings
from feedsvc.publish import current_snapshot
from feedsvc.storeden.sandbox import SandboxServer
from feedsvc.storeden.shop import Shop
from feedsvc.store import Store
from feedsvc.sync import run_sync
from tests.integration.servers import ROOT, base_env, feedsvc
from tests.reliability.snapshot_watch import SnapshotWatcher

KILLS = 20
RATE = (25, 1.0)


def _env(sandbox, data_dir):
    return base_env(data_dir, FEEDSVC_STOREDEN_URL=sandbox.url, FEEDSVC_STOREDEN_KEY=sandbox.key,
                    FEEDSVC_STOREDEN_EXCHANGE=sandbox.exchange, FEEDSVC_STOREDEN_RATE=f"{RATE[0]}/{RATE[1]:g}")


def test_killed_anywhere_then_resumed_equals_an_uninterrupted_run(tmp_path):
    now = time.time() - 5
    rng = random.Random(20261123)
    with SandboxServer(Shop(seed=41, orders=110, now=now), rate=(1000, 1.0)) as sandbox:
        reference = load_settings(_env(sandbox, tmp_path / "reference"))
        run_sync(reference, progress=False)
        build_and_publish(reference, now=now + 5)

    crashed_dir = tmp_path / "crashed"
    with SandboxServer(Shop(seed=41, orders=110, now=now), rate=RATE) as sandbox:
        env = _env(sandbox, crashed_dir)
        assert feedsvc(["render"], env).returncode == 0  # an empty but valid first snapshot
        kills_in_sync = 0
        with SnapshotWatcher(crashed_dir / "snapshots") as watcher:
            for round_number in range(KILLS):
                command = "render" if round_number % 4 == 3 else "sync"
                process = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", command, "--quiet"]
                                           if command == "sync" else [sys.executable, "-m", "feedsvc.cli", command],
                                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.4, 1.6))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills_in_sync += command == "sync"
                process.wait()
            finished = feedsvc(["sync", "--quiet"], env)
            rendered = feedsvc(["render"], env)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert rendered.returncode == 0, rendered.stderr
    assert kills_in_sync >= 5  # the kills really landed inside syncs, not after them
    assert not watcher.report.violations, watcher.report.violations[:3]
    assert watcher.report.reads > 50 and len(watcher.report.distinct_snapshots) >= 2

    crashed = load_settings(env)
    build_and_publish(crashed, now=now + 5)
    with Store.open(reference) as a, Store.open(crashed) as b:
        assert a.raw_snapshot() == b.raw_snapshot()
    assert current_snapshot(reference.snapshots_dir).xml_path.read_bytes() == \
        current_snapshot(crashed.snapshots_dir).xml_path.read_bytes()
