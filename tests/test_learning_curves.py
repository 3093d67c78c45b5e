"""rlcv.learning_curves: what the benches read off an eval curve, on hand-made curves."""

from __future__ import annotations

import numpy as np

from rlcv import learning_curves as lc
from rlcv.plotting import SeedCurve


def _curve(steps: list[int], values: list[float]) -> SeedCurve:
    return SeedCurve(np.asarray(steps, np.int64), np.asarray(values, np.float64))


def test_value_at_is_the_last_evaluation_at_or_before_the_step() -> None:
    c = _curve([10, 20, 30], [1.0, 5.0, 3.0])
    assert lc.point_at(c, 9) is None and lc.value_at(c, 9) is None
    assert lc.point_at(c, 10) == (10, 1.0)
    assert lc.point_at(c, 29) == (20, 5.0)
    assert lc.value_at(c, 10**9) == 3.0


def test_first_reaching_is_the_first_step_at_or_above_and_none_when_never() -> None:
    c = _curve([10, 20, 30], [1.0, 5.0, 3.0])
    assert lc.first_reaching(c, 3.0) == 20  # not monotone: the first crossing counts
    assert lc.first_reaching(c, 1.0) == 10
    assert lc.first_reaching(c, 5.5) is None
    assert lc.steps_to_target([10, 20], [0.0, 2.0], 2.0) == 20


def test_mean_curve_needs_one_grid() -> None:
    a, b = _curve([10, 20], [1.0, 3.0]), _curve([10, 20], [3.0, 5.0])
    mean = lc.mean_curve([a, b])
    assert mean is not None and mean.steps.tolist() == [10, 20] and mean.values.tolist() == [2.0, 4.0]
    assert lc.mean_curve([a, _curve([10, 25], [1.0, 3.0])]) is None
    assert lc.mean_curve([]) is None


def test_mean_return_and_from_summary() -> None:
    summary = {"eval": {"steps": [5, 10], "return_mean": [2.0, 4.0], "return_std": [0.1, 0.2]}}
    c = lc.from_summary(summary)
    assert c.steps.dtype == np.int64 and c.steps.tolist() == [5, 10] and c.values.tolist() == [2.0, 4.0]
    assert lc.mean_return(c) == 3.0
    assert lc.mean_return(_curve([], [])) is None


def test_failed_plots_close_their_figures(tmp_path) -> None:
    """A plot whose file cannot be written raises and leaves no pyplot figure open (they are kept alive
    by pyplot, and a later test or bench saw them)."""
    import matplotlib.pyplot as plt
    import pytest

    from rlcv.gan.metrics import save_grid
    from rlcv.plotting import plot_curves

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    open_before = plt.get_fignums()
    curve = SeedCurve(steps=np.array([1.0, 2.0]), values=np.array([0.0, 1.0]))
    with pytest.raises(OSError):
        plot_curves({"Env": {"algo": [curve]}}, blocker / "curves.png")
    with pytest.raises(OSError):
        save_grid(np.zeros((4, 8, 8), np.float32), blocker / "grid.png")
    assert plt.get_fignums() == open_before
