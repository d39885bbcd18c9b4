"""Snapshots: atomic publish, rollback on failure, pruning, consistent reads."""

import gzip
import hashlib
import os

import pytest

from feedsvc.publish import PublishError, SnapshotWriter, current_snapshot, open_snapshot


def publish(root, body: bytes):
    with SnapshotWriter(root) as writer:
        writer.xml_path.write_bytes(body)
        return writer.commit({"orders": 1})


def test_commit_writes_xml_gzip_meta_and_current(tmp_path):
    snapshot = publish(tmp_path, b"<ORDERS></ORDERS>\n")
    current = current_snapshot(tmp_path)
    assert current == snapshot
    assert current.sha256 == hashlib.sha256(b"<ORDERS></ORDERS>\n").hexdigest()
    assert gzip.decompress(current.gz_path.read_bytes()) == b"<ORDERS></ORDERS>\n"
    assert current.meta["orders"] == 1 and current.size == 18 and current.etag == f'"{current.sha256}"'


def test_identical_xml_gives_identical_gzip(tmp_path):
    first = publish(tmp_path, b"<ORDERS/>")
    second = publish(tmp_path, b"<ORDERS/>")
    assert first.gz_path.read_bytes() == second.gz_path.read_bytes()


def test_failure_inside_the_writer_changes_nothing(tmp_path):
    before = publish(tmp_path, b"<ORDERS>old</ORDERS>")
    with pytest.raises(RuntimeError):
        with SnapshotWriter(tmp_path) as writer:
            writer.xml_path.write_bytes(b"<ORDERS>half")
            raise RuntimeError("render crashed")
    assert current_snapshot(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def test_disk_error_during_commit_is_a_publish_error(tmp_path, monkeypatch):
    before = publish(tmp_path, b"<ORDERS>old</ORDERS>")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with pytest.raises(PublishError, match="No space left"):
        with SnapshotWriter(tmp_path) as writer:
            writer.xml_path.write_bytes(b"<ORDERS>new</ORDERS>")
            monkeypatch.setattr(os, "replace", full_disk)
            writer.commit({})
    monkeypatch.undo()
    assert current_snapshot(tmp_path) == before


def test_only_the_last_three_are_kept_and_open_files_survive_pruning(tmp_path):
    publish(tmp_path, b"<ORDERS>1</ORDERS>")
    snapshot, xml, gz = open_snapshot(tmp_path)
    for n in range(2, 6):
        publish(tmp_path, f"<ORDERS>{n}</ORDERS>".encode())
    kept = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(kept) == 3
    assert not snapshot.dir.exists()
    assert xml.read() == b"<ORDERS>1</ORDERS>"  # the open handle still reads the pruned snapshot
    xml.close()
    gz.close()


def test_no_snapshot(tmp_path):
    assert current_snapshot(tmp_path) is None and open_snapshot(tmp_path) is None
