""""Sync now" against real gunicorn over real sockets: 30 clicks at once start exactly one process, and the
page shows the running one until it ends.

The simulator holds the started run's requests still (sandbox.hold) until the
test has seen every answer, so the run cannot end early and let a later click
start a second one legitimately.
"""

import os
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from feedsvc.pipeline import pipeline_running
from feedsvc.publish import current_snapshot
from feedsvc.store import Store
from feedsvc.sync import run_sync
from tests.helpers.servers import PASSWORD, USER, GunicornServer

CLICKS = 30
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def pipeline_processes(data_dir: Path) -> list[int]:
    """Pids of `feedsvc sync` processes working on `data_dir`, from /proc."""
    wanted = f"FEEDSVC_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"feedsvc.cli" in argv and b"sync" in argv and wanted in environ:
            found.append(int(entry.name))
    return found


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _logged_in(server) -> tuple[httpx.Client, str]:
    client = server.client(auth=(USER, PASSWORD))
    page = client.get("/")
    assert page.status_code == 200
    return client, _CSRF.search(page.text).group(1)


@pytest.mark.shop(seed=81, orders=50)
def test_thirty_clicks_at_once_start_exactly_one_pipeline_process(data_dir, storeden, storeden_env,
                                                                  storeden_settings):
    sandbox, shop, env, settings = storeden, storeden.shop, storeden_env, storeden_settings
    run_sync(settings, progress=False)
    shop.advance(new_orders=2, status_changes=2)
    with GunicornServer(env, workers=2) as server:
        client, csrf = _logged_in(server)
        cookies = dict(client.cookies)
        sandbox.hold()
        answers, start = [], threading.Barrier(CLICKS)

        def click():
            with server.client(auth=(USER, PASSWORD), cookies=cookies) as own:
                start.wait(timeout=60)
                response = own.post("/sync", data={"csrf": csrf}, headers={"X-Requested-With": "fetch"})
                answers.append((response.status_code, response.json()))

        try:
            clickers = [threading.Thread(target=click) for _ in range(CLICKS)]
            for clicker in clickers:
                clicker.start()
            for clicker in clickers:
                clicker.join(timeout=120)
            assert len(answers) == CLICKS
            started = [body for status, body in answers if status == 202]
            refused = [body for status, body in answers if status == 409]
            assert len(started) == 1 and len(refused) == CLICKS - 1, answers
            pid = started[0]["running"]["pid"]
            assert all(not body["started"] and body["running"] is not None for body in refused)
            assert sandbox.wait_until_held(), "the started run never reached Storeden"
            assert pipeline_processes(data_dir) == [pid]
            assert all(body["running"]["pid"] in (None, pid) for body in refused)  # None: before it began

            # The page shows the running one: the button is off and says since when and what it does.
            overview = client.get("/").text
            assert re.search(r'<button type="submit" id="sync-now" disabled>', overview)
            assert "Running since" in overview and "feedsvc sync --publish (from the dashboard)" in overview
            status = client.get("/sync/status").json()
            assert status["running"]["pid"] == pid and status["running"]["stage"] == "syncing"
            before = current_snapshot(settings.snapshots_dir)
        finally:
            sandbox.release()
        _wait_for(lambda: not pipeline_running(settings), "the run to end")
        _wait_for(lambda: not pipeline_processes(data_dir), "the process to exit")
        after = client.get("/sync/status").json()
        assert after["running"] is None
        assert '<button type="submit" id="sync-now">' in client.get("/").text
        # the lock is free again: the next click starts the next run
        again = client.post("/sync", data={"csrf": csrf}, headers={"X-Requested-With": "fetch"})
        assert again.status_code == 202
        _wait_for(lambda: not pipeline_running(settings), "the second run to end")
        client.close()
    with Store.open(settings) as store:
        runs = store.list_sync_runs()
    assert len(runs) == 3 and all(run.status == "ok" for run in runs)  # the first sync and the two clicks
    assert current_snapshot(settings.snapshots_dir).name != (before.name if before else None)


@pytest.mark.shop(seed=82, orders=30)
def test_a_click_while_the_worker_runs_starts_nothing_and_shows_the_worker(data_dir, storeden, storeden_env,
                                                                           storeden_settings):
    sandbox, env, settings = storeden, storeden_env, storeden_settings
    with GunicornServer(env, workers=2) as server:
        client, csrf = _logged_in(server)
        sandbox.hold()
        worker = threading.Thread(target=run_sync, args=(settings,), kwargs={"progress": False})
        worker.start()
        try:
            assert sandbox.wait_until_held()
            response = client.post("/sync", data={"csrf": csrf}, headers={"X-Requested-With": "fetch"})
            plain = client.post("/sync", data={"csrf": csrf})
        finally:
            sandbox.release()
            worker.join(timeout=120)
        client.close()
    assert response.status_code == 409
    body = response.json()
    assert body["started"] is False and body["running"]["pid"] == os.getpid()
    assert body["running"]["command"] == "feedsvc sync"
    assert plain.status_code == 303 and plain.headers["location"].endswith("/#sync-h")
    assert pipeline_processes(data_dir) == []
