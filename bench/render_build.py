"""Benchmark 3: publish (map + render + validate + publish) against lxml writing the same XML from strings.

The full publish starts from an empty fragment cache. Also a re-publish with
nothing changed and one after 1 % of the orders changed, against the full one.
Every figure comes from its own child process (peak RSS from os.wait4).
"""

from __future__ import annotations

from bench import datasets
from bench.harness import BenchContext, Row, python_child, require_ok

NAME = "render"


def _child(mode: str, data_dir, *extra, timeout: float = 1800):
    result = python_child("bench.render_child", mode, str(data_dir), *extra, timeout=timeout)
    require_ok(result, f"render_child {mode} {data_dir.name}")
    return result


def run(ctx: BenchContext) -> list[Row]:
    sizes = (1_000, 10_000) if ctx.quick else (1_000, 10_000, 100_000)
    rows = []
    for size in sizes:
        settings = datasets.filled(ctx, size)
        ctx.log(f"render: {size:,} orders")
        ours = _child("full", settings.data_dir)
        base = _child("plain", settings.data_dir)
        ratio = ours.answer["seconds"] / base.answer["seconds"]
        rows.append(Row(NAME, f"publish {ours.answer['orders']:,} orders: time",
                        f"{ours.answer['seconds']:.2f} s", f"{base.answer['seconds']:.2f} s (lxml from strings)",
                        ratio, ratio_label="publish / plain lxml", goal="≤ 2", met=ratio <= 2,
                        note="publish = map + render + XSD and rule check + gzip + atomic write; "
                             "the baseline only builds and serialises prepared strings"))
        rows.append(Row(NAME, f"publish {ours.answer['orders']:,} orders: peak RSS",
                        f"{ours.peak_rss_mb:.0f} MB", f"{base.peak_rss_mb:.0f} MB (lxml from strings)",
                        ours.peak_rss_bytes / base.peak_rss_bytes, ratio_label="publish / plain lxml"))
        if size == 10_000:
            full_seconds = ours.answer["seconds"]
            unchanged = _child("build", settings.data_dir)
            rows.append(Row(NAME, "re-publish of 10,000 orders, nothing changed",
                            f"{unchanged.answer['seconds']:.2f} s", f"{full_seconds:.2f} s (full publish)",
                            unchanged.answer["seconds"] / full_seconds, ratio_label="re-publish / full",
                            note=f"{unchanged.answer['rendered']} orders rendered; the hourly re-publish "
                                 "that slides the window"))
            _child("touch", settings.data_dir, "1")
            again = _child("build", settings.data_dir)
            share = again.answer["seconds"] / full_seconds
            rows.append(Row(NAME, "re-publish after 1 % of 10,000 orders changed",
                            f"{again.answer['seconds']:.2f} s", f"{full_seconds:.2f} s (full publish)",
                            share, ratio_label="re-publish / full", goal="≤ 0.15", met=share <= 0.15,
                            note=f"{again.answer['rendered']} orders mapped, rendered and checked; the others "
                                 "reuse their cached fragment; the whole feed is still written, hashed and gzipped"))
    return rows
