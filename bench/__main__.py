"""`python -m bench [--quick] [--only NAME]`: run the benchmarks, print the table, write bench/RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.harness import RESULTS_PATH, BenchContext, Log, format_markdown, format_table, update_readme, write_results

# Name → module; the order is the order of the table.
BENCHMARKS = {
    "api": "bench.api_economy",
    "push": "bench.push_economy",
    "render": "bench.render_build",
    "serving": "bench.serving",
    "delivery": "bench.delivery_log",
    "first-publish": "bench.first_publish",
    "slow": "bench.slow_clients",
    "validate": "bench.validate_cli",
    "validate-speed": "bench.validate_speed",
    "dashboard": "bench.dashboard_pages",
}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure feedsvc against baselines taken in the same run; "
                    f"writes {RESULTS_PATH.relative_to(RESULTS_PATH.parent.parent)}.")
    parser.add_argument("--quick", action="store_true",
                        help="smaller data sets and shorter load runs (about two minutes)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory with the generated stores and feeds")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log = Log()
    workdir = Path(tempfile.mkdtemp(prefix="feedsvc-bench-"))
    ctx = BenchContext(quick=args.quick, workdir=workdir, log=log)
    selected = args.only or list(BENCHMARKS)
    rows, failures = [], []
    started = time.monotonic()
    try:
        for name in selected:
            log(f"{name}: starting")
            try:
                module = importlib.import_module(BENCHMARKS[name])
                new_rows = module.run(ctx)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                failures.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
                continue
            rows.extend(new_rows)
            log(f"{name}: done")
            print(format_table(new_rows), flush=True)
            print(flush=True)
    finally:
        if args.keep:
            log(f"scratch data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    print("=" * 20 + " all results " + "=" * 20)
    print(format_table(rows))
    if failures:
        print("\nfailed: " + "; ".join(failures))
    if not args.no_write:
        results = format_markdown(rows, quick=args.quick, elapsed=elapsed, failures=failures)
        path = write_results(results)
        log(f"wrote {path}")
        # Only a complete full run speaks for the project in the README.
        if not args.quick and not args.only and update_readme(results):
            log("updated the README's performance section")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
