"""Snapshots: writing a new feed atomically, and reading the current one consistently.

A snapshot is a directory holding feed.xml, feed.xml.gz and meta.json. It is
built under a temporary name in the same directory, fsynced, renamed into
place, and only then named in CURRENT (itself replaced with os.replace). A
reader reads CURRENT once and opens that directory's files; an open file
keeps its bytes after a later publish prunes the directory, so no response
ever mixes two snapshots and a crash at any point leaves the last good
snapshot current. Everything here is private to the service's user: the
directories 0700, the files 0600 (the feed holds customers' personal data).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from feedsvc import faults

CURRENT = "CURRENT"
KEEP = 3
_CHUNK = 1 << 20
PRIVATE_FILE_MODE = 0o600


def open_private(path: Path, mode: str = "wb"):
    """A new file (or an emptied one) readable by this user only, opened for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    return os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8")


class PublishError(RuntimeError):
    """The snapshot could not be written; the previous one stays current."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    dir: Path
    meta: dict

    @property
    def xml_path(self) -> Path:
        return self.dir / "feed.xml"

    @property
    def gz_path(self) -> Path:
        return self.dir / "feed.xml.gz"

    @property
    def sha256(self) -> str:
        return self.meta["sha256"]

    @property
    def etag(self) -> str:
        return f'"{self.meta["sha256"]}"'

    @property
    def gzip_etag(self) -> str:
        return f'"{self.meta["gzip_sha256"]}"'

    @property
    def size(self) -> int:
        return self.meta["size"]

    @property
    def gzip_size(self) -> int:
        return self.meta["gzip_size"]

    @property
    def created_ts(self) -> float:
        return self.meta["created_ts"]

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.created_ts


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest_and_gzip(xml_path: Path, gz_path: Path) -> tuple[str, int, str, int]:
    sha = hashlib.sha256()
    size = 0
    with open(xml_path, "rb") as source, open_private(gz_path) as raw_gz:
        with gzip.GzipFile(filename="", fileobj=raw_gz, mode="wb", compresslevel=6, mtime=0) as gz:
            while chunk := source.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
                gz.write(chunk)
        raw_gz.flush()
        os.fsync(raw_gz.fileno())
    gz_sha = hashlib.sha256()
    with open(gz_path, "rb") as compressed:
        while chunk := compressed.read(_CHUNK):
            gz_sha.update(chunk)
    return sha.hexdigest(), size, gz_sha.hexdigest(), gz_path.stat().st_size


class SnapshotWriter:
    """`with SnapshotWriter(dir) as w:` write w.xml_path, then `w.commit(meta)`; anything else rolls back."""

    def __init__(self, snapshots_dir: Path, *, keep: int = KEEP):
        self.root = Path(snapshots_dir)
        self.keep = keep
        self.staging: Path | None = None
        self.committed: Snapshot | None = None

    def __enter__(self) -> SnapshotWriter:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))  # 0700
        except OSError as exc:
            raise PublishError(f"cannot write a snapshot under {self.root}: {exc.strerror or exc}") from None
        return self

    @property
    def staged(self) -> Path:
        """The directory being written (between __enter__ and commit)."""
        assert self.staging is not None
        return self.staging

    @property
    def xml_path(self) -> Path:
        return self.staged / "feed.xml"

    def commit(self, meta: dict, *, created_ts: float | None = None) -> Snapshot:
        created_ts = time.time() if created_ts is None else created_ts
        try:
            with open(self.xml_path, "rb+") as xml:
                os.fchmod(xml.fileno(), PRIVATE_FILE_MODE)  # whoever wrote it
                os.fsync(xml.fileno())
            staging = self.staged
            sha, size, gz_sha, gz_size = _digest_and_gzip(self.xml_path, staging / "feed.xml.gz")
            stamp = datetime.fromtimestamp(created_ts, tz=UTC)
            full_meta = {**meta, "created_at": stamp.isoformat(timespec="seconds"), "created_ts": created_ts,
                         "size": size, "sha256": sha, "gzip_size": gz_size, "gzip_sha256": gz_sha}
            with open_private(staging / "meta.json", "w") as out:
                json.dump(full_meta, out, indent=2, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            _fsync_dir(staging)
            name = f"{stamp.strftime('%Y%m%dT%H%M%S%f')}-{sha[:12]}"
            final = self.root / name
            os.rename(staging, final)
            self.staging = None
            faults.reached("feed-written")
            pointer = self.root / f".{CURRENT}.tmp"
            with open_private(pointer, "w") as out:
                out.write(name + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(pointer, self.root / CURRENT)
            _fsync_dir(self.root)
        except OSError as exc:
            raise PublishError(f"publishing the snapshot failed: {exc.strerror or exc}; "
                               "the previous snapshot stays served") from None
        self.committed = Snapshot(name, final, full_meta)
        self._prune(name)
        return self.committed

    def _prune(self, current: str) -> None:
        try:
            names = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
            for old in names[:-self.keep]:
                if old != current:
                    shutil.rmtree(self.root / old, ignore_errors=True)
        except OSError:
            pass

    def __exit__(self, *exc) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None


def current_snapshot(snapshots_dir: Path) -> Snapshot | None:
    """The snapshot CURRENT names, or None before the first publish."""
    root = Path(snapshots_dir)
    try:
        name = (root / CURRENT).read_text(encoding="ascii").strip()
        meta = json.loads((root / name / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return Snapshot(name, root / name, meta)


_META_CACHE: dict[tuple[str, str], Snapshot] = {}


def _cached_snapshot(root: Path) -> Snapshot | None:
    """current_snapshot, with meta.json read once per snapshot rather than once per request."""
    try:
        name = (root / CURRENT).read_text(encoding="ascii").strip()
    except OSError:
        return None
    key = (str(root), name)
    snapshot = _META_CACHE.get(key)
    if snapshot is None:
        try:
            snapshot = Snapshot(name, root / name, json.loads((root / name / "meta.json").read_text("utf-8")))
        except (OSError, ValueError):
            return None
        if len(_META_CACHE) > 16:
            _META_CACHE.clear()
        _META_CACHE[key] = snapshot
    return snapshot


def open_current(snapshots_dir: Path, *, compressed: bool):
    """(snapshot, open feed.xml or feed.xml.gz) from one reading of CURRENT, or None: the serving path."""
    root = Path(snapshots_dir)
    for _ in range(3):
        snapshot = _cached_snapshot(root)
        if snapshot is None:
            return None
        try:
            return snapshot, open(snapshot.gz_path if compressed else snapshot.xml_path, "rb")
        except FileNotFoundError:
            continue  # pruned between reading CURRENT and opening: read CURRENT again
    return None


def open_snapshot(snapshots_dir: Path):
    """(snapshot, open feed.xml, open feed.xml.gz) from one reading of CURRENT, or None."""
    for _ in range(3):
        snapshot = current_snapshot(snapshots_dir)
        if snapshot is None:
            return None
        try:
            return snapshot, open(snapshot.xml_path, "rb"), open(snapshot.gz_path, "rb")
        except FileNotFoundError:
            continue  # pruned between reading CURRENT and opening: read CURRENT again
    return None
