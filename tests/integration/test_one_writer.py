"""One writer at a time: sync, publish, render and the worker share the data dir's lock for whole runs.

The simulator holds every request of the first run still (sandbox.hold), so the
run is in flight for as long as the test looks: no timing is guessed.
"""

import logging
import subprocess
import sys
import threading
import time

import pytest

from feedsvc import pipeline
from feedsvc.build import build_and_publish
from feedsvc.pipeline import PipelineBusy, hold, pipeline_running, pipeline_state, read_state, run_pipeline
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.sync import run_sync
from tests.helpers.servers import ROOT, run_feedsvc


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", "feedsvc.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.shop(seed=71, orders=40)
def test_a_second_writer_is_told_who_holds_the_lock_while_a_sync_and_publish_runs(storeden, storeden_env,
                                                                                   storeden_settings):
    sandbox, env, settings = storeden, storeden_env, storeden_settings
    sandbox.hold()
    first = _start(["sync", "--publish", "--quiet"], env)
    try:
        assert sandbox.wait_until_held(), "the first run never reached Storeden"
        state = pipeline_state(settings)
        assert state["pid"] == first.pid and state["stage"] == "syncing"
        assert state["command"] == "feedsvc sync --publish"
        for args in (["render"], ["sync", "--quiet"], ["sync", "--publish"]):
            refused = run_feedsvc(args, env, timeout=60)
            assert refused.returncode == 3, (args, refused.stdout, refused.stderr)
            assert "another sync or publish is running" in refused.stderr
            assert f"pid {first.pid}" in refused.stderr and "feedsvc sync --publish" in refused.stderr
            assert str(settings.sync_lock_path) in refused.stderr
        with pytest.raises(PipelineBusy):
            build_and_publish(settings)
        with pytest.raises(PipelineBusy):
            run_sync(settings, progress=False)
        assert current_snapshot(settings.snapshots_dir) is None  # nobody published behind its back
    finally:
        sandbox.release()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert "sync ok" in out and "published" in out
    assert not pipeline_running(settings) and read_state(settings) is None
    assert run_feedsvc(["render"], env).returncode == 0


@pytest.mark.shop(seed=72, orders=30)
def test_runs_started_at_the_same_moment_give_exactly_one_writer(storeden, storeden_env, storeden_settings):
    sandbox, env, settings = storeden, storeden_env, storeden_settings
    sandbox.hold()
    runs = [_start(["sync", "--publish", "--quiet"], env) for _ in range(4)]
    try:
        # The winner waits at the simulator until released; the others give up at once.
        assert sandbox.wait_until_held(), "no run reached Storeden"
        deadline = time.monotonic() + 120
        while sum(run.poll() is not None for run in runs) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        waiting = [run for run in runs if run.poll() is None]
        assert len(waiting) == 1, [(run.pid, run.returncode) for run in runs]
        assert pipeline_state(settings)["pid"] == waiting[0].pid
    finally:
        sandbox.release()
        outputs = [run.communicate(timeout=120) for run in runs]
    assert sorted(run.returncode for run in runs) == [0, 3, 3, 3], outputs
    assert all("another sync or publish is running" in err for run, (_, err) in zip(runs, outputs)
               if run.returncode == 3)
    with Store.open(settings) as store:
        assert len(store.list_sync_runs()) == 1


def test_in_one_process_the_lock_is_reentrant_in_its_thread_and_refused_to_others(settings):
    outcomes = []

    def other_thread():
        try:
            with hold(settings, command="other"):
                outcomes.append("held")
        except PipelineBusy as exc:
            outcomes.append(str(exc))

    with hold(settings, command="outer"):
        with hold(settings, command="inner"):  # run_pipeline → build_and_publish
            assert read_state(settings)["command"] == "outer"
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert pipeline_running(settings)
    assert len(outcomes) == 1 and "outer" in outcomes[0]
    assert not pipeline_running(settings)
    result = run_pipeline(settings, sync=False, publish=True)
    assert result.build is not None and result.publish_error is None


@pytest.mark.shop(seed=73, orders=30)
def test_the_worker_waits_its_turn_then_syncs_and_publishes(storeden_settings, monkeypatch, caplog):
    monkeypatch.setattr(pipeline, "BUSY_RETRY", 0.05)
    settings = storeden_settings
    stop = threading.Event()
    worker = threading.Thread(target=pipeline.run_forever, args=(settings,), kwargs={"stop_event": stop})
    with caplog.at_level(logging.INFO, logger="feedsvc.pipeline"):
        with pipeline.hold(settings, command="feedsvc render (by hand)"):
            worker.start()
            deadline = time.monotonic() + 60
            while "trying again" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "feedsvc render (by hand)" in caplog.text  # it says who is in the way
            assert current_snapshot(settings.snapshots_dir) is None
        deadline = time.monotonic() + 120
        while current_snapshot(settings.snapshots_dir) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        worker.join(timeout=120)
    assert not worker.is_alive()
    assert current_snapshot(settings.snapshots_dir) is not None
    with Store.open(settings) as store:
        assert [run.status for run in store.list_sync_runs()] == ["ok"]
