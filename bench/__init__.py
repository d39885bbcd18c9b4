"""feedsvc benchmarks: each one measures a figure and a baseline in the same run and prints their ratio.

Run them with `python -m bench` (what `make bench` runs); `--quick` gives a
short run, `--only NAME` runs one benchmark. The table is printed and written
to bench/RESULTS.md with the machine it was measured on.
"""
