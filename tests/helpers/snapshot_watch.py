"""A reader that keeps checking the published snapshot while something else writes, kills or fails.

It follows the publish contract the way the web app does: read
`snapshots/CURRENT`, open that directory's `feed.xml`, `feed.xml.gz` and
`meta.json`, and check that they belong together (sizes and sha256 from
meta.json) and that the XML parses. A reader that finds a directory gone
between reading CURRENT and opening it has lost a race with pruning, which the
contract allows (it reads CURRENT again); anything else is a violation.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@dataclass
class WatchReport:
    reads: int = 0
    distinct_snapshots: set = field(default_factory=set)
    violations: list = field(default_factory=list)
    pruned_races: int = 0


def check_snapshot_once(snapshots_dir: Path) -> str | None:
    """Read the current snapshot fully and check it; returns its directory name (None if none yet).

    Raises AssertionError describing what is wrong; FileNotFoundError when the
    directory vanished after CURRENT was read (a pruning race).
    """
    current = snapshots_dir / "CURRENT"
    try:
        name = current.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    assert name and "/" not in name, f"CURRENT holds {name!r}"
    directory = snapshots_dir / name
    with open(directory / "meta.json", "rb") as meta_file, \
            open(directory / "feed.xml", "rb") as xml_file, \
            open(directory / "feed.xml.gz", "rb") as gz_file:
        meta = json.loads(meta_file.read())
        xml = xml_file.read()
        compressed = gz_file.read()
    assert len(xml) == meta["size"], f"{name}: feed.xml has {len(xml)} bytes, meta says {meta['size']}"
    assert hashlib.sha256(xml).hexdigest() == meta["sha256"], f"{name}: feed.xml sha256 differs from meta"
    assert len(compressed) == meta["gzip_size"], f"{name}: feed.xml.gz size differs from meta"
    assert gzip.decompress(compressed) == xml, f"{name}: feed.xml.gz does not hold feed.xml"
    root = etree.fromstring(xml, _SAFE_PARSER)
    assert root.tag == "ORDERS", f"{name}: root is {root.tag}"
    assert len(root) == meta["orders"], f"{name}: {len(root)} orders, meta says {meta['orders']}"
    return name


class SnapshotWatcher:
    """A background thread that checks the current snapshot in a loop until stopped."""

    def __init__(self, snapshots_dir: Path, *, pause: float = 0.01):
        self.snapshots_dir = Path(snapshots_dir)
        self.pause = pause
        self.report = WatchReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="snapshot-watcher", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                name = check_snapshot_once(self.snapshots_dir)
            except FileNotFoundError as exc:
                if self._still_current(exc):
                    self.report.violations.append(f"CURRENT names a snapshot that is missing: {exc}")
                else:
                    self.report.pruned_races += 1
                continue
            except Exception as exc:  # every other failure is what this watcher exists to catch
                self.report.violations.append(f"{type(exc).__name__}: {exc}")
                name = None
            if name is not None:
                self.report.reads += 1
                self.report.distinct_snapshots.add(name)
            time.sleep(self.pause)

    def _still_current(self, exc: FileNotFoundError) -> bool:
        """Whether the missing file belongs to the snapshot CURRENT still names (not a pruning race)."""
        try:
            name = (self.snapshots_dir / "CURRENT").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return False
        return bool(name) and name in str(exc.filename or "")

    def __enter__(self) -> SnapshotWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
