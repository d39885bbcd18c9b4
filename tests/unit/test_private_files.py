"""Files with customers' data are created for the service's user only, whatever the umask."""

import logging
import os
import stat
from contextlib import contextmanager

import pytest

from feedsvc.config import load_settings
from feedsvc.pipeline import hold
from feedsvc.publish import SnapshotWriter
from feedsvc.store import Store


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@contextmanager
def open_umask():
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_data_dir_is_0700(tmp_path):
    with open_umask():
        settings = load_settings({"FEEDSVC_DATA_DIR": str(tmp_path / "a" / "b")})
    assert _mode(settings.data_dir) == 0o700


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o777, 0o701])
def test_an_open_data_dir_is_tightened_and_says_so(tmp_path, caplog, mode):
    data_dir = tmp_path / "old"
    data_dir.mkdir()
    data_dir.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="feedsvc.config"):
        load_settings({"FEEDSVC_DATA_DIR": str(data_dir)})
    assert _mode(data_dir) == 0o700
    assert f"was readable by others ({mode:04o}); made it 0700" in caplog.text


def test_a_private_data_dir_is_left_alone_quietly(tmp_path, caplog):
    (tmp_path / "d").mkdir(mode=0o700)
    with caplog.at_level(logging.WARNING, logger="feedsvc.config"):
        load_settings({"FEEDSVC_DATA_DIR": str(tmp_path / "d")})
    assert caplog.text == ""


def test_the_store_and_its_wal_are_0600_and_an_old_open_one_is_tightened(tmp_path):
    with open_umask():
        with Store(tmp_path / "new.sqlite3") as store:
            store.set_bookmark("x", "1")
            for suffix in ("", "-wal", "-shm"):
                assert _mode(f"{store.path}{suffix}") == 0o600
    old = tmp_path / "old.sqlite3"
    Store(old).close()
    old.chmod(0o644)
    Store(old).close()
    assert _mode(old) == 0o600


def test_snapshot_files_are_0600_even_when_the_feed_was_written_loosely(tmp_path):
    with open_umask():
        with SnapshotWriter(tmp_path / "snapshots") as writer:
            writer.xml_path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<ORDERS></ORDERS>\n')
            snapshot = writer.commit({"orders": 0})
    assert _mode(tmp_path / "snapshots") == 0o700 and _mode(snapshot.dir) == 0o700
    for name in ("feed.xml", "feed.xml.gz", "meta.json"):
        assert _mode(snapshot.dir / name) == 0o600, name
    assert _mode(tmp_path / "snapshots" / "CURRENT") == 0o600


def test_the_lock_file_and_the_run_state_are_0600(tmp_path):
    settings = load_settings({"FEEDSVC_DATA_DIR": str(tmp_path)})
    with open_umask(), hold(settings, command="test"):
        assert _mode(settings.sync_lock_path) == 0o600
        assert _mode(tmp_path / "pipeline.json") == 0o600
