"""The validate benchmark's own data and verdicts: its shaped feeds are clean, and its rows say when the goal
is missed (run by `make test` with the rest of bench/'s checks)."""

from bench.validate_speed import ratio_row, write_shaped_feed
from feedsvc.retino.validate import validate_path


def test_the_benchmark_s_shaped_feeds_are_clean(tmp_path):
    for shape in ("wide", "lean"):
        path = write_shaped_feed(tmp_path / f"{shape}.xml", 40, shape)
        report = validate_path(path, parallel=False, days=30)
        assert report.valid and report.errors == report.warnings == 0 and report.orders == 40
    row = ratio_row("lean", 40, path, 1.6, 1.0, 50 << 20)
    assert row.met is False and abs(row.ratio - 1.6) < 1e-9 and "≤ 1.5" in row.goal
    assert ratio_row("lean", 40, path, 1.4, 1.0, 50 << 20).met is True
