"""Benchmark 5: `feedsvc validate` on a large feed against pure-Python xmlschema on the same file.

Both run as whole commands in child processes (interpreter start, schema
load, parse, check), timed by wall clock, with peak RSS from os.wait4.
xmlschema gets a time cap; when it would not finish the large file inside
it, the ratio is taken on the 10k-order file instead and the row says so.
"""

from __future__ import annotations

import sys

from bench import datasets
from bench.harness import PROJECT_ROOT, BenchContext, Row, python_child, require_ok, run_child

NAME = "validate"
XSD = PROJECT_ROOT / "schema" / "retino-feed.xsd"

_XMLSCHEMA_SCRIPT = """
import json, sys, time
started = time.perf_counter()
import xmlschema
valid = xmlschema.XMLSchema(sys.argv[1]).is_valid(sys.argv[2])
print(json.dumps({"valid": bool(valid), "seconds": time.perf_counter() - started}))
"""


def _feedsvc_validate(path, timeout):
    result = python_child("feedsvc.cli", "validate", str(path), "--json", "--max-bytes", str(10**10),
                          timeout=timeout)
    if result.timed_out or result.returncode != 0:
        raise RuntimeError(f"feedsvc validate {path.name}: exit {result.returncode} "
                           f"(timed out: {result.timed_out})\n{result.stderr[-1500:]}")
    return result


def _xmlschema(path, timeout):
    return run_child([sys.executable, "-c", _XMLSCHEMA_SCRIPT, str(XSD), str(path)], timeout=timeout)


def run(ctx: BenchContext) -> list[Row]:
    large = 10_000 if ctx.quick else 100_000
    small = 1_000 if ctx.quick else 10_000
    # xmlschema's cap: what is left of the run's budget for this one command.
    cap = 120.0 if ctx.quick else 360.0
    large_feed = datasets.published_feed(ctx, large)
    size_mb = large_feed.stat().st_size / 1e6

    ctx.log(f"validate: feedsvc validate on {large:,} orders ({size_mb:.0f} MB)")
    ours = _feedsvc_validate(large_feed, timeout=900)

    # Time xmlschema on the small file first and skip the large one when the
    # measured speed says it cannot finish under the cap.
    small_feed = datasets.published_feed(ctx, small)
    ctx.log(f"validate: xmlschema on {small:,} orders (cap {cap:.0f}s)")
    reference_small = _xmlschema(small_feed, timeout=cap)
    require_ok(reference_small, f"xmlschema on {small} orders")
    predicted = reference_small.wall_seconds * large_feed.stat().st_size / small_feed.stat().st_size
    rows = []
    note = ""
    if predicted <= cap * 0.8:
        ctx.log(f"validate: xmlschema on {large:,} orders (predicted {predicted:.0f}s)")
        reference = _xmlschema(large_feed, timeout=cap)
        compared, compared_n, ours_compared = reference, large, ours
    else:
        reference = None
    if reference is None or reference.timed_out or reference.returncode != 0:
        why = (f"xmlschema was predicted to need ~{predicted:.0f}s for {large:,} orders, over the "
               f"{cap:.0f}s cap" if reference is None else
               f"xmlschema did not finish {large:,} orders within {cap:.0f}s")
        note = f"{why}; the ratio is taken on the {small:,}-order file."
        compared, compared_n = reference_small, small
        ours_compared = _feedsvc_validate(small_feed, timeout=600)
    if not compared.answer.get("valid"):
        raise RuntimeError(f"xmlschema says the {compared_n}-order feed is invalid")
    rows.append(Row(
        NAME, f"feedsvc validate, {large:,} orders ({size_mb:.0f} MB): time",
        f"{ours.wall_seconds:.2f} s", "—", None, goal="", met=None,
        note=f"peak RSS {ours.peak_rss_mb:.0f} MB"))
    rows.append(Row(
        NAME, f"time vs xmlschema, {compared_n:,} orders",
        f"{ours_compared.wall_seconds:.2f} s", f"{compared.wall_seconds:.2f} s",
        ours_compared.wall_seconds / compared.wall_seconds, ratio_label="feedsvc / xmlschema",
        goal="< 1 (faster)", met=ours_compared.wall_seconds < compared.wall_seconds, note=note))
    rows.append(Row(
        NAME, f"peak RSS vs xmlschema, {compared_n:,} orders",
        f"{ours_compared.peak_rss_mb:.0f} MB", f"{compared.peak_rss_mb:.0f} MB",
        ours_compared.peak_rss_bytes / compared.peak_rss_bytes, ratio_label="feedsvc / xmlschema",
        goal="< 1 (smaller)", met=ours_compared.peak_rss_bytes < compared.peak_rss_bytes))
    return rows
