"""Sync then publish, one writer at a time: the data dir's lock, held for a whole run.

Everything that writes the store or the snapshots runs here, under the lock
file `settings.sync_lock_path`: `feedsvc sync` (with `--publish`, sync then
publish in one run), `feedsvc render`, each cycle of `feedsvc sync --forever`
and its hourly re-publish, and "Sync now" in the dashboard. A second writer
never waits: it gets PipelineBusy, whose message says who holds the lock
(pid, command, since when, what it is doing) and where the lock file is.

The lock is an exclusive `flock` on an open file description. It is
re-entrant within a thread (run_sync and build_and_publish take it too, so
called alone they are safe, and called from run_pipeline they share its hold),
and it can be handed to a child process: "Sync now" takes the lock in the web
worker, starts `feedsvc sync --publish` with the locked descriptor, and lets
go of its own copy only once the child holds it. So from the click on, the lock
is never free, and no second click in any gunicorn worker can start another run.

Who holds the lock is written to `pipeline.json` beside it. Readers ask
`pipeline_state()`, which tests the lock with a shared lock for an instant;
a writer that finds only such readers in the way tries again.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from feedsvc.config import Settings

if TYPE_CHECKING:
    from feedsvc.build import BuildResult
    from feedsvc.push import PushResult
    from feedsvc.sync import SyncResult

log = logging.getLogger("feedsvc.pipeline")

LOCK_FD_VARIABLE = "FEEDSVC_PIPELINE_LOCK_FD"  # a descriptor handed over by "Sync now"; internal
STATE_FILE = "pipeline.json"
PUBLISH_AT_LEAST_EVERY = 3600  # the window slides: re-publish hourly even when nothing was synced
BUSY_RETRY = 60  # `sync --forever` tries again this soon when another run holds the lock
_READER_PATIENCE = 2.0  # seconds a writer waits for readers that test the lock for an instant


class PipelineBusy(RuntimeError):
    """Another sync or publish holds the data dir's lock; `holder` is what it wrote about itself."""

    def __init__(self, lock_path: Path, holder: dict | None):
        self.lock_path = lock_path
        self.holder = holder or {}
        super().__init__(f"another sync or publish is running ({describe(self.holder)}); "
                         f"it holds the lock {lock_path}")


def describe(holder: dict) -> str:
    """`pid 4242, feedsvc sync --forever, since 2026-11-30 12:03:04 UTC, publishing` from a state dict."""
    parts = []
    if holder.get("pid"):
        parts.append(f"pid {holder['pid']}")
    if holder.get("command"):
        parts.append(str(holder["command"]))
    if holder.get("started_at"):
        stamp = datetime.fromtimestamp(float(holder["started_at"]), UTC)
        parts.append(f"since {stamp:%Y-%m-%d %H:%M:%S} UTC")
    if holder.get("stage"):
        parts.append(str(holder["stage"]))
    return ", ".join(parts) or "no details"


# -- the lock ---------------------------------------------------------------

_holds: dict[str, int] = {}  # lock file → the thread of this process holding it
_holds_guard = threading.Lock()


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _lock_exclusively(path: Path) -> int | None:
    """A descriptor holding the exclusive lock, or None when another writer holds it."""
    fd = _open_lock_file(path)
    deadline = time.monotonic() + _READER_PATIENCE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        try:
            # Granted when only readers (pipeline_state) are in the way; refused when a writer is.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        if time.monotonic() > deadline:
            os.close(fd)
            return None
        time.sleep(0.002)


def _adopt_handed_over(path: Path) -> int | None:
    """The locked descriptor "Sync now" handed to this process, if it is one on this lock file."""
    value = os.environ.pop(LOCK_FD_VARIABLE, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        given, expected = os.fstat(fd), os.stat(path)
        if (given.st_dev, given.st_ino) != (expected.st_dev, expected.st_ino):
            return None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours already: this only confirms it
    except OSError:
        return None
    os.set_inheritable(fd, False)
    return fd


def _unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def hold(settings: Settings, *, command: str) -> Iterator[None]:
    """Hold the data dir's lock for the block; PipelineBusy when another writer has it.

    Re-entrant in the thread that holds it: the inner holds share the outer one.
    """
    path = Path(settings.sync_lock_path)
    key = str(path.resolve())
    me = threading.get_ident()
    with _holds_guard:
        nested = _holds.get(key) == me
    if nested:  # the outer hold keeps the lock and lets it go
        yield
        return
    state = {"pid": os.getpid(), "command": command, "started_at": time.time(), "stage": "starting"}
    fd = _adopt_handed_over(path)
    if fd is not None:
        state = {**state, **(read_state(settings) or {}), "pid": os.getpid()}  # who started it, and when
    else:
        fd = _lock_exclusively(path)
    if fd is None:
        raise PipelineBusy(path, read_state(settings))
    with _holds_guard:
        _holds[key] = me
    try:
        _write_state(settings, state)
        yield
    finally:
        with _holds_guard:
            del _holds[key]
        _remove_state(settings)
        _unlock(fd)


def _held_here(settings: Settings) -> bool:
    with _holds_guard:
        return str(Path(settings.sync_lock_path).resolve()) in _holds


# -- who holds it ---------------------------------------------------------

def _state_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / STATE_FILE


def _write_state(settings: Settings, state: dict) -> None:
    path = _state_path(settings)
    temporary = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out)
        os.replace(temporary, path)
    except OSError as exc:  # the state is for people; the lock is what counts
        log.warning("could not write %s: %s", path, exc.strerror or exc)


def _remove_state(settings: Settings) -> None:
    try:
        _state_path(settings).unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s: %s", _state_path(settings), exc.strerror or exc)


def read_state(settings: Settings) -> dict | None:
    """What the holder wrote about itself (pid, command, started_at, stage), or None."""
    try:
        state = json.loads(_state_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def set_stage(settings: Settings, stage: str) -> None:
    """Say what the run holding the lock is doing now (only from the process that holds it)."""
    if _held_here(settings):
        state = read_state(settings) or {"pid": os.getpid(), "started_at": time.time()}
        _write_state(settings, {**state, "stage": stage})


def pipeline_state(settings: Settings) -> dict | None:
    """The running sync or publish (what it wrote about itself; {} before it has), or None when none runs."""
    if _held_here(settings):
        return read_state(settings) or {}
    path = Path(settings.sync_lock_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return read_state(settings) or {}
    _unlock(fd)
    return None


def pipeline_running(settings: Settings) -> bool:
    """Whether a sync or publish holds the data dir's lock now."""
    return pipeline_state(settings) is not None


# -- running it -------------------------------------------------------------

@dataclass
class PipelineResult:
    sync: SyncResult | None = None  # when the run synced
    build: BuildResult | None = None  # when it published
    publish_error: str | None = None  # why publishing failed; the previous snapshot stays served
    progressive: list = field(default_factory=list)  # (seconds in, BuildResult) of publishes during a backfill
    push: PushResult | None = None  # when it pushed (push mode)
    push_error: str | None = None  # why the push stopped; what was not confirmed goes next time


def run_pipeline(settings: Settings, *, sync: bool = True, publish: bool = True, days: int | None = None,
                 full: bool = False, progress: bool | None = None, now: float | None = None,
                 command: str | None = None, push: bool | None = None, client=None, clock=None,
                 on_publish=None) -> PipelineResult:
    """Sync (when `sync`) then publish (when `publish`) then push, under the lock for the whole run.

    With sync and publish, a backfill publishes what is complete as it goes
    (progressive.py), from this same run. `push` defaults to: push mode is on
    and this run synced and published. Raises PipelineBusy when another run
    holds the lock. A failed publish or push does not raise: it is in
    `publish_error` / `push_error` (and recorded in the store). `client` (a
    StoredenClient), `clock` and `on_publish` are for tests that run a backfill
    on simulated time.
    """
    from feedsvc.build import BuildError, build_and_publish
    from feedsvc.publish import PublishError
    from feedsvc.sync import run_sync

    command = command or ("feedsvc sync --publish" if sync and publish else "feedsvc sync" if sync
                          else "feedsvc render")
    result = PipelineResult()
    with hold(settings, command=command):
        if sync:
            set_stage(settings, "syncing")
            checkpoint = None
            if publish:
                publisher = _progressive_publisher(settings, now=now, clock=clock, on_publish=on_publish)
                result.progressive = publisher.published
                checkpoint = publisher.checkpoint
            result.sync = run_sync(settings, days=days, progress=progress, now=now, client=client,
                                   checkpoint=checkpoint)
        if publish:
            set_stage(settings, "publishing")
            try:
                result.build = build_and_publish(settings, now=now, full=full)
            except (BuildError, PublishError) as exc:
                result.publish_error = str(exc)
                log.error("publishing failed: %s", exc)
        if push if push is not None else (settings.push_enabled and sync and publish):
            set_stage(settings, "pushing to Retino")
            _push_stage(settings, result, now)
    return result


def _progressive_publisher(settings: Settings, *, now, clock, on_publish):
    from feedsvc.build import build_and_publish
    from feedsvc.progressive import ProgressivePublisher

    def publish():
        set_stage(settings, "syncing; publishing what is complete")
        try:
            return build_and_publish(settings, now=now)
        finally:
            set_stage(settings, "syncing")

    return ProgressivePublisher(publish, clock=clock or time.monotonic, on_publish=on_publish)


def _push_stage(settings: Settings, result: PipelineResult, now: float | None) -> None:
    from feedsvc.push import PushStopped, run_push

    try:
        result.push = run_push(settings, now=now)
    except PushStopped as stopped:
        result.push, result.push_error = stopped.result, str(stopped)
        log.error("the push to Retino stopped: %s", stopped)
    except Exception as exc:  # the feed must not suffer from a push problem
        result.push_error = f"the push failed: {type(exc).__name__}: {exc}"
        log.exception("the push to Retino failed; the feed is not affected")


def start_in_background(settings: Settings, *, origin: str = "the dashboard") -> dict:
    """Start `feedsvc sync --publish` as a detached process holding the lock from this very moment.

    Returns what the started run is (its pid, command, start); raises
    PipelineBusy when a run holds the lock already, OSError when the process
    cannot be started (the lock is then let go).
    """
    path = Path(settings.sync_lock_path)
    fd = _lock_exclusively(path)
    if fd is None:
        raise PipelineBusy(path, read_state(settings))
    command = f"feedsvc sync --publish (from {origin})"
    state = {"pid": None, "command": command, "started_at": time.time(), "stage": "starting"}
    _write_state(settings, state)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc.cli", "sync", "--publish", "--quiet"],
            env={**os.environ, LOCK_FD_VARIABLE: str(fd)}, pass_fds=(fd,), start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        _remove_state(settings)
        _unlock(fd)
        raise
    os.close(fd)  # the child holds the lock now; unlocking here would free it for everyone
    threading.Thread(target=process.wait, name="feedsvc-pipeline-reaper", daemon=True).start()
    return {**state, "pid": process.pid}


def run_forever(settings: Settings, *, interval: int | None = None,
                stop_event: threading.Event | None = None) -> None:
    """`feedsvc sync --forever`: sync then publish every `interval` seconds, re-publish at least hourly.

    A run that finds the lock held tries again after BUSY_RETRY seconds;
    a failing run is logged and the last good feed stays served.
    """
    stop = stop_event or threading.Event()
    interval = interval or settings.sync_interval
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    next_sync, last_publish = 0.0, 0.0
    while not stop.is_set():
        now = time.time()
        due_sync = now >= next_sync
        if due_sync or now - last_publish >= PUBLISH_AT_LEAST_EVERY:
            try:
                run_pipeline(settings, sync=due_sync, publish=True, command="feedsvc sync --forever")
            except PipelineBusy as exc:
                log.info("%s; trying again in %d s", exc, BUSY_RETRY)
                stop.wait(BUSY_RETRY)
                continue
            except Exception:
                log.exception("the run failed; the last good feed stays served")
            if due_sync:
                next_sync = now + interval
            last_publish = now
        wait = min(next_sync - time.time(), PUBLISH_AT_LEAST_EVERY - (time.time() - last_publish), 60.0)
        stop.wait(max(1.0, wait))
