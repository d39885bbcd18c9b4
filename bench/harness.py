"""The benchmark harness: result rows, the printed table, bench/RESULTS.md, and child-process measurement.

Every benchmark returns `Row`s; a row carries its own baseline so the ratio
is always between two figures measured on the same machine in the same run.
Child processes are timed by themselves (they print a JSON line); their peak
memory is the VmHWM of their own address space, sampled while they run (the
rusage from `os.wait4` would carry the parent's size across exec).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_PATH = BENCH_DIR / "RESULTS.md"
README_PATH = BENCH_DIR.parent / "README.md"
README_START, README_END = "<!-- bench-results -->", "<!-- /bench-results -->"


@dataclass
class Row:
    """One measured figure against a baseline from the same run."""

    benchmark: str
    case: str
    measured: str
    baseline: str
    ratio: float | None
    ratio_label: str = "measured / baseline"
    goal: str = ""
    met: bool | None = None
    note: str = ""

    def ratio_text(self) -> str:
        if self.ratio is None:
            return "n/a"
        if self.ratio < 10:
            return f"{self.ratio:.3f}"
        return f"{self.ratio:.1f}"

    def met_text(self) -> str:
        return {True: "yes", False: "MISSED", None: "—"}[self.met]


@dataclass
class BenchContext:
    """What every benchmark gets: the run mode and a scratch directory it may fill."""

    quick: bool
    workdir: Path
    log: Log


class Log:
    """Progress lines on stderr, so stdout keeps only the table."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"[bench {elapsed:7.1f}s] {message}", file=self.stream, flush=True)


@dataclass
class ChildResult:
    """A finished child process: its JSON answer, wall time and peak resident memory."""

    returncode: int
    answer: dict
    wall_seconds: float
    peak_rss_bytes: int
    stderr: str = ""
    timed_out: bool = False

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / (1024 * 1024)


def run_child(argv: Sequence[str], *, timeout: float, env: dict | None = None,
              cwd: Path | None = None) -> ChildResult:
    """Run a command, wait for it with os.wait4 and return its last JSON stdout line and peak RSS.

    A child that outlives `timeout` is killed (its whole process group) and
    reported with `timed_out=True`; the caller decides what that means.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
        start_new_session=True)
    deadline = started + timeout
    timed_out = False
    # Read the pipes in threads so a chatty child cannot block on a full pipe.
    import threading

    chunks: dict[str, list[bytes]] = {"out": [], "err": []}

    def drain(stream, key):
        for block in iter(lambda: stream.read(65536), b""):
            chunks[key].append(block)

    readers = [threading.Thread(target=drain, args=(process.stdout, "out"), daemon=True),
               threading.Thread(target=drain, args=(process.stderr, "err"), daemon=True)]
    for reader in readers:
        reader.start()
    high_water = 0
    while True:
        high_water = max(high_water, vm_hwm(process.pid))
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            pid, status, rusage = os.wait4(process.pid, 0)
            break
        time.sleep(0.02)
    wall = time.monotonic() - started
    # Popen must not wait for a pid that is already reaped.
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)
    out = b"".join(chunks["out"]).decode("utf-8", "replace")
    err = b"".join(chunks["err"]).decode("utf-8", "replace")
    answer: dict = {}
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            try:
                answer = json.loads(line)
                break
            except ValueError:
                continue
    # ru_maxrss survives exec on Linux, so a child forked from a big parent reports the parent's
    # size; the child's own VmHWM, sampled while it runs, is the figure that belongs to it.
    peak = high_water or int(rusage.ru_maxrss) * 1024
    return ChildResult(returncode=process.returncode, answer=answer, wall_seconds=wall,
                       peak_rss_bytes=peak, stderr=err[-4000:], timed_out=timed_out)


def vm_hwm(pid: int) -> int:
    """The process's resident-memory high-water mark in bytes (0 when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def python_child(module: str, *args: str, timeout: float, env: dict | None = None) -> ChildResult:
    """Run `python -m <module> args…` from the project root with this interpreter."""
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), child_env.get("PYTHONPATH", "")) if p)
    return run_child([sys.executable, "-m", module, *args], timeout=timeout, env=child_env,
                     cwd=PROJECT_ROOT)


def require_ok(result: ChildResult, what: str) -> dict:
    """The child's answer, or a RuntimeError that shows the end of its stderr."""
    if result.timed_out:
        raise RuntimeError(f"{what}: timed out after {result.wall_seconds:.0f}s")
    if result.returncode != 0 or not result.answer:
        raise RuntimeError(f"{what}: exit {result.returncode}\n{result.stderr[-2000:]}")
    return result.answer


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine_line() -> str:
    return (f"{platform.platform()}; Python {platform.python_version()} "
            f"({platform.python_implementation()}); os.cpu_count() = {os.cpu_count()}")


# -- output ----------------------------------------------------------------

_HEADERS = ("benchmark", "case", "measured", "baseline", "ratio", "goal", "met")


def _cells(row: Row) -> tuple[str, ...]:
    ratio = f"{row.ratio_text()} ({row.ratio_label})" if row.ratio is not None else "n/a"
    return (row.benchmark, row.case, row.measured, row.baseline, ratio, row.goal, row.met_text())


def format_table(rows: Sequence[Row]) -> str:
    """A fixed-width text table for the terminal."""
    table = [_HEADERS] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADERS))]
    lines = []
    for index, line in enumerate(table):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  * {r.benchmark} / {r.case}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def format_markdown(rows: Sequence[Row], *, quick: bool, elapsed: float, failures: Sequence[str],
                    now: _dt.datetime | None = None) -> str:
    """bench/RESULTS.md: the machine, then the table, then the notes and any failed benchmark."""
    now = now or _dt.datetime.now(_dt.UTC)
    out = [
        "# feedsvc benchmark results",
        "",
        "Generated by `python -m bench" + (" --quick" if quick else "") + "` (`make bench`); "
        "every ratio compares two figures measured in this same run.",
        "",
        f"- date: {now.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {platform.platform()}",
        f"- `os.cpu_count()`: {os.cpu_count()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
        f"- mode: {'quick' if quick else 'full'}; run took {elapsed:.0f} s",
        "",
        "| " + " | ".join(_HEADERS) + " |",
        "|" + "|".join("---" for _ in _HEADERS) + "|",
    ]
    for row in rows:
        out.append("| " + " | ".join(_md_escape(c) for c in _cells(row)) + " |")
    notes = [r for r in rows if r.note]
    if notes:
        out += ["", "Notes:", ""]
        out += [f"- **{_md_escape(r.benchmark)} / {_md_escape(r.case)}**: {r.note}" for r in notes]
    if failures:
        out += ["", "Benchmarks that did not finish:", ""]
        out += [f"- {f}" for f in failures]
    return "\n".join(out) + "\n"


def write_results(text: str, path: Path = RESULTS_PATH) -> Path:
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def update_readme(results: str, path: Path = README_PATH) -> bool:
    """Show the results (without their title) between the README's bench markers; False if it has none."""
    readme = path.read_text(encoding="utf-8")
    start, end = readme.find(README_START), readme.find(README_END)
    if start < 0 or end < start:
        return False
    body = "\n".join(line for line in results.splitlines() if not line.startswith("# ")).strip()
    readme = readme[:start + len(README_START)] + "\n\n" + body + "\n\n" + readme[end:]
    write_results(readme, path)
    return True


@dataclass
class Stopwatch:
    """Wall time of a block: `with Stopwatch() as sw: …; sw.seconds`."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
