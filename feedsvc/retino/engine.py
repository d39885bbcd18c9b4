"""One pass of the feed check over a document, and how two passes share a large one on two cores.

A pass reads the whole document (`xmlstream.FeedReader`) and, on each ORDER, runs

- the identity rules (D1, D2, P1-P3, DT1, DT2): they span orders, so one pass
  runs them on every order, in document order;
- the content rules (money, items, codes, texts) and the XSD: they concern
  each order alone, so they run on the pass's share of the orders (all of
  them, or those it claims);
- once the document has been read, the XSD of what lies outside the orders.

A small document gets one pass doing everything. A large file gets two at
once, both reading it: this process takes the identity rules; a child
process (`ChildPass`) takes what lies outside the orders; the orders' own
checks go to whichever pass reaches them first (`Claims`), so the two end
together whatever the orders cost. Each pass parses the whole file, but the
checks, which cost more than parsing, are shared.
"""

from __future__ import annotations

import argparse
import bisect
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from feedsvc.retino.report import Report
from feedsvc.retino.rules import Finding, OrderChecker
from feedsvc.retino.schema_pass import SchemaCheck
from feedsvc.retino.xmlstream import FeedReader


class Every:
    """A fixed share of the orders: those whose index is `part` modulo `parts` (all by default)."""

    def __init__(self, parts: int = 1, part: int = 0):
        self.parts, self.part = parts, part

    def mine(self, index: int) -> bool:
        return index % self.parts == self.part


class Claims:
    """The orders' checks shared by two passes as they go: at an order nobody has taken yet, a pass
    takes it and the next few (`BLOCK`), so the faster pass takes more and both end together.

    The index of the last order taken is kept in a small file that each pass opens for itself
    (an flock excludes other open files, not other processes sharing one).
    """

    BLOCK = 8

    def __init__(self, path):
        self.path = str(path)
        self.taken: list[tuple[int, int]] = []  # this pass's blocks, in order
        self._fd: int | None = None
        self._known = 0  # the last index taken by either pass, as far as this one knows

    @classmethod
    def create(cls) -> Claims:
        handle, path = tempfile.mkstemp(prefix="feedsvc-validate-", suffix=".claims")
        os.write(handle, bytes(8))
        os.close(handle)
        return cls(path)

    def mine(self, index: int) -> bool:
        if self.taken and self.taken[-1][0] <= index <= self.taken[-1][1]:
            return True
        if index <= self._known:
            return False
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._known = int.from_bytes(os.pread(self._fd, 8, 0), "little")
            if index <= self._known:
                return False
            last = index + self.BLOCK - 1
            os.pwrite(self._fd, last.to_bytes(8, "little"), 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._known = last
        self.taken.append((index, last))
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self.close()
        Path(self.path).unlink(missing_ok=True)


class NotTaken:
    """The orders another pass's `Claims` did not take (to redo a failed child's share)."""

    def __init__(self, claims: Claims):
        self.starts = [start for start, _ in claims.taken]
        self.taken = claims.taken

    def mine(self, index: int) -> bool:
        at = bisect.bisect_right(self.starts, index) - 1
        return at < 0 or index > self.taken[at][1]


class Pass:
    """Runs the checks of one pass over a reader's orders into `report` (see the module docstring)."""

    def __init__(self, report: Report, *, profile: str = "full", days: int = 7, now: datetime | None = None,
                 schema_path: str | None = None, share=None, identity: bool = True, outside: bool = True):
        self.report = report
        self.checker = OrderChecker(profile=profile, days=days, now=now)
        self.schema = SchemaCheck(report, schema_path)
        self.share = share or Every()
        self.identity = identity
        self.outside = outside

    def run(self, reader: FeedReader) -> None:
        """Check every order; raises what the reader raises (the document ends early, is refused…)."""
        report, checker, schema = self.report, self.checker, self.schema
        mine, identity, quick = self.share.mine, self.identity, schema.bundled
        for index, order in enumerate(reader.orders(), 1):
            if mine(index):
                valid = schema.order(order, index)
                report.extend(checker.check(order, index, identity=identity, schema_valid=valid and quick))
            elif identity:
                report.extend(checker.check(order, index, content=False))
        if self.outside:
            schema.outside(reader)
        report.complete = True

    def close(self) -> None:
        """Put the counts in the report and let go of the duplicate rules' memory."""
        report, checker = self.report, self.checker
        if self.identity:
            report.orders, report.without_package = checker.orders, checker.without_package
        report.items += checker.items
        checker.close()


class ChildPass:
    """The second pass over a large file, in a child process on the other core.

    A single-threaded process (the CLI) forks: the child starts at once, with the modules and the
    compiled schema already loaded. A process with threads (a server running the build) spawns a
    fresh interpreter instead (`python -m feedsvc.retino.engine`), since forking it could copy a lock
    another thread holds.
    """

    def __init__(self, path, *, claims: Claims, profile: str, days: int, now: datetime | None,
                 schema_path: str | None, max_bytes: int | None, fork: bool | None = None):
        self.claims = claims  # this process's side of the shared claims
        options = {"claims": claims.path, "profile": profile, "days": days, "now": now,
                   "schema_path": schema_path, "max_bytes": max_bytes}
        if fork is None:
            fork = hasattr(os, "fork") and threading.active_count() == 1
        self.pid: int | None = None
        self.process: subprocess.Popen | None = None
        if fork:
            self._fork(path, options)
        else:
            self._spawn(path, options)

    def _fork(self, path, options: dict) -> None:
        readable, writable = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: check, write the report, and leave without running the parent's code
            status = 1
            try:
                os.close(readable)
                with os.fdopen(writable, "wb") as out:
                    out.write(_report_to_json(check_share(path, **options)).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(writable)
        self.pid = pid
        self._output = os.fdopen(readable, "rb")

    def _spawn(self, path, options: dict) -> None:
        now = options["now"]
        command = [sys.executable, "-m", "feedsvc.retino.engine", str(path), "--claims", options["claims"],
                   "--profile", options["profile"], "--days", str(options["days"])]
        if now is not None:
            command += ["--now", now.isoformat()]
        if options["schema_path"]:
            command += ["--schema", str(options["schema_path"])]
        if options["max_bytes"] is not None:
            command += ["--max-bytes", str(options["max_bytes"])]
        env = dict(os.environ)
        package_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (the child writes to it; closed in stop())
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._stderr, env=env)

    def result(self) -> Report | None:
        """The child's report, or None when it failed (the caller then does its share itself)."""
        try:
            if self.process is not None:
                out, _ = self.process.communicate()
                ok = self.process.returncode == 0
            else:
                assert self.pid is not None  # started by fork when not as a process
                out = self._output.read()
                _, status = os.waitpid(self.pid, 0)
                self.pid = None
                ok = os.waitstatus_to_exitcode(status) == 0
            return _report_from_json(out) if ok else None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        finally:
            self.stop()

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._stderr.close()
        elif self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.pid = None
        if self.process is None:
            self._output.close()


def _report_to_json(report: Report) -> str:
    return json.dumps({
        "complete": report.complete, "items": report.items,
        "findings": [[f.code, f.severity, f.line, f.order_code, f.path, f.message, f.hint, f.feed_level]
                     for f in report.findings],
        "omitted": [[code, severity, number] for (code, severity), number in report.omitted.items()],
    })


def _report_from_json(text: bytes) -> Report:
    body = json.loads(text)
    report = Report(complete=bool(body["complete"]), items=int(body["items"]))
    for fields in body["findings"]:
        report.add(Finding(*fields))
    for code, severity, number in body["omitted"]:
        report.count(code, severity, number)
    return report


def check_share(path, *, claims: str, profile: str = "full", days: int = 7, now: datetime | None = None,
                schema_path: str | None = None, max_bytes: int | None = None) -> Report:
    """What a child pass reports: the orders it took (`claims`: the file of `Claims`), and the XSD
    outside the orders.

    A document that stops early just ends the list: the other pass, reading the same bytes, says why.
    """
    from lxml import etree

    from feedsvc.retino.xmlstream import Refused, TooLarge

    report = Report()
    taken = Claims(claims)
    work = Pass(report, profile=profile, days=days, now=now, schema_path=schema_path, share=taken,
                identity=False, outside=True)
    with open(path, "rb") as stream:
        try:
            work.run(FeedReader(stream, max_bytes=max_bytes))
        except (etree.XMLSyntaxError, Refused, TooLarge):
            pass
    work.close()
    taken.close()
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m feedsvc.retino.engine")
    parser.add_argument("path")
    parser.add_argument("--claims", required=True)
    parser.add_argument("--profile", default="full")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--now")
    parser.add_argument("--schema")
    parser.add_argument("--max-bytes", type=int)
    args = parser.parse_args(argv)
    report = check_share(args.path, claims=args.claims, profile=args.profile, days=args.days,
                         now=datetime.fromisoformat(args.now) if args.now else None, schema_path=args.schema,
                         max_bytes=args.max_bytes)
    sys.stdout.write(_report_to_json(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
