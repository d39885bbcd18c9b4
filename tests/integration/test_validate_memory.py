"""`feedsvc validate` on large hostile documents, as a real process under a memory limit.

Each document is generated on disk a megabyte at a time, never held whole.
The command runs with RLIMIT_AS set (its XSD child inherits it): memory that
grew with the document would fail the run. The peak resident memory of the
command and of its child is sampled from /proc and must stay far below the
document's size.
"""

import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20
ORDER = (ROOT / "tests" / "fixtures" / "retino" / "two_orders.xml").read_bytes().split(b"<ORDER>")[1]
ORDER = b"<ORDER>" + ORDER[:ORDER.index(b"</ORDER>")] + b"</ORDER>"


def generate(path: Path, head: bytes, pieces, tail: bytes, size: int) -> Path:
    """Write head, then the pieces over and over (each a few KB to 1 MB) until `size` bytes, then tail."""
    with open(path, "wb") as out:
        out.write(head)
        written = len(head)
        while written < size:
            for piece in pieces:
                out.write(piece)
                written += len(piece)
        out.write(tail)
    return path


def run_limited(args, limit_mb: int, timeout: float = 240, stdin=None):
    """Run `feedsvc validate ARGS` under RLIMIT_AS; returns (exit code, stdout, stderr, peak RSS in MB)."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * MB, limit_mb * MB))

    # Output goes to files: a report of thousands of findings would fill a pipe nobody reads yet.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([sys.executable, "-m", "feedsvc.cli", "validate", *map(str, args)],
                                   cwd=ROOT, stdin=stdin, stdout=out, stderr=err, preexec_fn=limit)
        peaks: dict[int, int] = {}
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail(f"validate did not finish in {timeout}s")
            for pid in [process.pid, *_children(process.pid)]:
                peaks[pid] = max(peaks.get(pid, 0), _high_water_mb(pid))
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read().decode(), err.read().decode(), max(peaks.values(), default=0)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def _high_water_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return 0


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_200_mb_flood_of_stray_elements_stays_flat(tmp_path):
    """The issue's case (<ORDERS> then millions of small elements), with its siblings mixed in:
    deep nesting, namespaced and attribute-laden junk, long texts, and real orders in between."""
    pieces = [
        b"<X/>" * (MB // 4),
        ORDER,
        (b"<a>" * 200 + b"</a>" * 200) * (MB // 1400),
        b'<X xmlns="urn:junk" a="1" b="2"/>' * (MB // 32),
        (b"<NOTE>" + b"t" * 4000 + b"</NOTE>") * (MB // 4013),
        b"stray text between elements",
        ORDER.replace(b"10483", b"10484").replace(b"132_56695c3c0a3be", b"132_56695c3c0a3bf"),
    ]
    document = generate(tmp_path / "flood.xml", b'<?xml version="1.0" encoding="UTF-8"?>\n<ORDERS>', pieces,
                        b"</ORDERS>\n", 200 * MB)
    assert document.stat().st_size >= 200 * MB
    code, out, err, peak = run_limited([document, "--json", "--days", "100000"], limit_mb=384)
    assert code == 1, err[-500:]
    body = json.loads(out)
    assert body["valid"] is False and body["orders"] >= 100
    messages = " ".join(f["message"] for f in body["findings"])
    assert "Element 'X': This element is not expected" in messages and "Character content" in messages
    assert any(f["code"] == "D1" for f in body["findings"])  # the repeated orders are still checked
    assert peak < 160, f"peak resident memory {peak} MB for a 200 MB document"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_millions_of_empty_orders_keep_findings_and_memory_bounded(tmp_path):
    document = generate(tmp_path / "empty-orders.xml", b"<ORDERS>", [b"<ORDER/>" * (MB // 8)], b"</ORDERS>", 4 * MB)
    orders = (document.stat().st_size - len(b"<ORDERS></ORDERS>")) // len(b"<ORDER/>")
    code, out, _err, peak = run_limited([document, "--json"], limit_mb=256)
    body = json.loads(out)
    assert code == 1 and body["orders"] == orders and body["errors"] >= orders
    assert len(body["findings"]) < 3000 and sum(o["count"] for o in body["omitted"]) > orders - 3000
    assert peak < 160


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_distinct_codes_beyond_memory_are_still_compared(tmp_path):
    tiny = b"".join(b"<ORDER><ORDER_ID>i%d</ORDER_ID><CODE>c%d</CODE></ORDER>" % (n, n) for n in range(250_000))
    twice = b"<ORDER><ORDER_ID>again</ORDER_ID><CODE>c7</CODE></ORDER>"
    document = tmp_path / "codes.xml"
    document.write_bytes(b"<ORDERS>" + tiny + twice + b"</ORDERS>")
    code, out, _err, peak = run_limited([document, "--json"], limit_mb=256)
    body = json.loads(out)
    duplicates = [f for f in body["findings"] if f["code"] == "D1"]
    assert code == 1 and body["orders"] == 250_001
    assert len(duplicates) == 1 and "'c7'" in duplicates[0]["message"]
    assert peak < 160


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_millions_of_distinct_names_are_stopped_by_the_memory_watch(tmp_path):
    """libxml2 keeps every distinct element name for good; no tree shows it, the process's memory does."""
    document = tmp_path / "names.xml"
    with open(document, "wb") as out:
        out.write(b"<ORDERS>")
        for block in range(60):
            out.write(b"".join(b"<n%d/>" % n for n in range(block * 100_000, (block + 1) * 100_000)))
        out.write(b"</ORDERS>")
    code, out, _err, peak = run_limited([document, "--json"], limit_mb=640)
    body = json.loads(out)
    assert code == 1 and [f for f in body["findings"] if f["code"] == "S2" and "memory" in f["message"]]
    assert peak < 400


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("framing", ["gzip-file", "stdin"])
def test_a_gzip_bomb_stops_at_the_cap(tmp_path, framing):
    bomb = tmp_path / "bomb.xml.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with open(bomb, "wb") as out:
        out.write(packer.compress(b"<ORDERS>"))
        for _ in range(1024):  # 1 GB of spaces: about 1 MB of gzip
            out.write(packer.compress(b" " * MB))
        out.write(packer.compress(b"</ORDERS>") + packer.flush())
    assert bomb.stat().st_size < 2 * MB
    args = [bomb] if framing == "gzip-file" else ["-"]
    with open(bomb, "rb") as stdin:
        code, _, err, peak = run_limited([*args, "--max-bytes", str(64 * MB)], limit_mb=256,
                                         stdin=stdin if framing == "stdin" else None)
    assert code == 2 and "over the limit" in err and "Traceback" not in err
    assert peak < 160


def test_the_generator_writes_what_it_says(tmp_path):
    path = generate(tmp_path / "g.xml", b"<A>", [b"<B/>" * 10], b"</A>", 100)
    data = path.read_bytes()
    assert data.startswith(b"<A><B/>") and data.endswith(b"</A>") and len(data) >= 100
    assert gzip.decompress(gzip.compress(data)) == data and os.path.getsize(path) == len(data)
