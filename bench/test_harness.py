"""The benchmark harness (its own checks, run by `make test`): child measurement, tables and RESULTS.md, the
load generator's guard rails."""

from __future__ import annotations

import sys
import textwrap

import pytest

from bench.harness import Row, format_markdown, format_table, run_child
from bench.loadgen import run_load


def test_run_child_reports_its_own_peak_memory_and_answer(tmp_path):
    script = textwrap.dedent("""
        import json
        block = bytearray(120 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        import time
        time.sleep(0.3)
        print("noise")
        print(json.dumps({"seconds": 0.5}))
    """)
    big = run_child([sys.executable, "-c", script], timeout=60)
    small = run_child([sys.executable, "-c", "import json; print(json.dumps({'ok': 1}))"], timeout=60)
    assert big.returncode == 0 and big.answer == {"seconds": 0.5}
    assert big.peak_rss_bytes > 120 * 1024 * 1024
    # wait4 gives each child its own figure: the small one does not inherit the big one's peak.
    assert small.answer == {"ok": 1}
    assert small.peak_rss_bytes < 60 * 1024 * 1024


def test_run_child_kills_a_child_that_overruns():
    result = run_child([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert result.timed_out
    assert result.returncode != 0
    assert result.wall_seconds < 10


def _rows():
    return [
        Row("render", "10k orders", "2.00 s", "1.00 s", 2.0, goal="<= 2x", met=True),
        Row("serving", "plain | gzip", "90 req/s", "100 req/s", 0.9, goal=">= 80 %", met=True,
            note="gzip served as stored"),
        Row("throttle", "5/2", "2.4 req/s", "2.5 req/s", 0.96, goal=">= 0.95", met=False),
    ]


def test_table_lists_every_row_and_marks_missed_goals():
    text = format_table(_rows())
    assert "10k orders" in text and "2.000" in text
    assert "MISSED" in text
    assert "gzip served as stored" in text


def test_results_markdown_names_the_machine_and_escapes_pipes():
    text = format_markdown(_rows(), quick=True, elapsed=12.0, failures=["validate: boom"])
    assert "os.cpu_count()" in text and "Python" in text and "date:" in text
    assert "plain \\| gzip" in text
    table_lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 1 + len(_rows())
    assert "validate: boom" in text


def test_load_generator_refuses_anything_but_loopback():
    with pytest.raises(ValueError):
        run_load("https://example.com/feed.xml", clients=1, seconds=0.1, verify=False)


def test_readme_section_between_the_markers_is_replaced_and_the_rest_kept(tmp_path):
    from bench.harness import update_readme
    readme = tmp_path / "README.md"
    readme.write_text("# feedsvc\n\n## Performance\n\n<!-- bench-results -->\nold table\n"
                      "<!-- /bench-results -->\n\n## Next\ntext\n", encoding="utf-8")
    results = format_markdown([Row("api", "backfill", "314", "314", 1.0, goal="≤ 1", met=True)],
                              quick=False, elapsed=3.0, failures=[])
    assert update_readme(results, readme)
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and "| api | backfill |" in text
    assert "# feedsvc benchmark results" not in text
    assert text.startswith("# feedsvc\n") and text.endswith("## Next\ntext\n")
    readme.write_text("no markers here\n", encoding="utf-8")
    assert not update_readme(results, readme)
    assert readme.read_text(encoding="utf-8") == "no markers here\n"
