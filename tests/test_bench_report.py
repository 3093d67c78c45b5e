"""rlcv.bench.report's verdict, figure and template helpers (md_table, fmt_interval and verdict_line
are tested in tests/test_bench_compare.py)."""

from __future__ import annotations

import math

import pytest

from rlcv.bench import report


def test_met_is_bold_and_not_measured_without_a_finite_value() -> None:
    assert report.met(True) == "**met**" and report.met(False) == "**missed**"
    assert report.met(True, 0.5, -1.0) == "**met**"
    assert report.met(True, 0.5, math.nan) == "**not measured**"
    assert report.met(False, math.inf) == "**not measured**"


def test_figure_writes_the_png_and_closes_it_also_when_drawing_fails(tmp_path) -> None:
    import matplotlib.pyplot as plt

    from rlcv.bench.report import figure

    open_before = plt.get_fignums()  # figures another test left open are not this test's
    with figure(tmp_path / "a.png", 1, 2, figsize=(2, 1)) as (_, axes):
        axes[0].plot([0, 1], [1, 0])
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plt.get_fignums() == open_before
    with pytest.raises(ZeroDivisionError), figure(tmp_path / "b.png") as (_, ax):
        ax.plot([1 / 0])
    assert not (tmp_path / "b.png").exists() and plt.get_fignums() == open_before


def test_render_fills_a_template_with_the_filters_and_refuses_an_undefined_name(
    tmp_path, monkeypatch
) -> None:
    import jinja2

    from rlcv.stats import Interval

    monkeypatch.setattr(report, "_TEMPLATES", tmp_path)
    (tmp_path / "t.md.j2").write_text(
        "# {{ title }}\n{% for r in rows %}\n- {{ r }}\n{% endfor %}\n{{ iv | interval('.2f', '×') }}, "
        "{{ 95000 | steps }}, {{ true | met(0.5) }}\n{{ [['a', 1]] | table(['k', 'v'], 'lr') }}\n"
    )
    iv = Interval(point=1.46, low=0.95, high=2.48, n=8, method="bootstrap")
    page = report.render("t.md.j2", title="T", rows=[1, 2], iv=iv)
    assert page == "# T\n- 1\n- 2\n1.46× [0.95, 2.48], 95k, **met**\n| k | v |\n|---|---:|\n| a | 1 |\n"
    with pytest.raises(jinja2.UndefinedError):
        report.render("t.md.j2", title="T", rows=[])
