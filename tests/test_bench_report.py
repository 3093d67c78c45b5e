"""rlcv.bench.report's row and verdict helpers (md_table, fmt_interval and verdict_line are tested in
tests/test_bench_compare.py)."""

from __future__ import annotations

import math

from rlcv.bench import report


def test_md_row_formats_cells_as_str_and_escapes_nothing() -> None:
    assert report.md_row("a", 1, 2.5, "") == "| a | 1 | 2.5 |  |"
    assert report.md_row("x|y") == "| x|y |"  # md_table escapes; a row of the caller's own text does not
    assert report.md_table(["h"], [["v"]])[2] == report.md_row("v")


def test_met_is_bold_and_not_measured_without_a_finite_value() -> None:
    assert report.met(True) == "**met**" and report.met(False) == "**missed**"
    assert report.met(True, 0.5, -1.0) == "**met**"
    assert report.met(True, 0.5, math.nan) == "**not measured**"
    assert report.met(False, math.inf) == "**not measured**"
