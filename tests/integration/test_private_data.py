"""The data dir holds customers' names, addresses and e-mails: only the service's user can read it, whatever
the umask, and a data dir an older version left open is closed at start-up."""

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from feedsvc.store import Store
from tests.helpers.servers import PASSWORD, ROOT, USER, GunicornServer, base_env


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _open_to_others(root: Path) -> list[str]:
    """Every path under `root` (itself included) that group or others may read, write or enter."""
    loose = [f"{root} {_mode(root):04o}"] if _mode(root) & 0o077 else []
    for path in root.rglob("*"):
        wanted = 0o700 if path.is_dir() else 0o600
        if _mode(path) != wanted:
            loose.append(f"{path.relative_to(root)} {_mode(path):04o}")
    return loose


def _feedsvc(args, env, umask=0):
    return subprocess.run([sys.executable, "-m", "feedsvc.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, umask=umask)


@pytest.mark.shop(seed=91, orders=40)
def test_everything_in_the_data_dir_is_private_even_with_an_open_umask(tmp_path, data_dir, storeden, storeden_env):
    sandbox, env = storeden, storeden_env
    assert not data_dir.exists()  # created by feedsvc itself
    done = _feedsvc(["sync", "--publish", "--quiet"], env)
    assert done.returncode == 0, done.stderr
    assert _feedsvc(["render", "--full"], env).returncode == 0
    sandbox.shop.advance(new_orders=2)
    logs = tmp_path / "logs"  # the test server's logs, not the service's files
    logs.mkdir()
    with GunicornServer(env, log_dir=logs) as server, server.client(auth=(USER, PASSWORD)) as client:
        assert client.get("/").status_code == 200  # the session key
        assert client.get("/feed.xml").status_code == 200
        with Store(data_dir / "feedsvc.sqlite3") as store:
            store.db.execute("SELECT COUNT(*) FROM orders").fetchone()  # -wal and -shm exist meanwhile
            names = {p.name for p in data_dir.iterdir()}
            assert {"feedsvc.sqlite3", "feedsvc.sqlite3-wal", "feedsvc.sqlite3-shm", "sync.lock",
                    "session.key", "snapshots"} <= names
            assert _open_to_others(data_dir) == []
    snapshots = [p for p in (data_dir / "snapshots").iterdir() if p.is_dir()]
    assert snapshots and all({f.name for f in s.iterdir()} == {"feed.xml", "feed.xml.gz", "meta.json"}
                             for s in snapshots)


def test_a_data_dir_left_open_by_an_older_version_is_closed_at_start_up(data_dir):
    data_dir.mkdir()
    database = data_dir / "feedsvc.sqlite3"
    with sqlite3.connect(database) as old:
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE leftover (x)")
    for path in (data_dir, *data_dir.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    status = _feedsvc(["status"], base_env(data_dir), umask=0o022)
    assert status.returncode == 0, status.stderr
    assert f"FEEDSVC_DATA_DIR {data_dir} was readable by others (0755); made it 0700" in status.stderr
    assert _mode(data_dir) == 0o700 and _mode(database) == 0o600
    again = _feedsvc(["status"], base_env(data_dir))
    assert "readable by others" not in again.stderr  # said once, when it was true
    assert os.access(database, os.R_OK)
