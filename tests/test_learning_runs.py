"""rlcv.diagnostics.learning_runs on hand-made runs whose numbers can be worked out by hand (the benches'
tests read the same functions through their pages: tests/test_bench_compare.py, test_oracle.py,
test_tuned_pair.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rlcv.diagnostics import learning_runs as lr
from rlcv.plotting import SeedCurve


def _curve(values: list[float]) -> SeedCurve:
    return SeedCurve(np.arange(1, len(values) + 1) * 1000, np.asarray(values, np.float64))


def test_seed_finals_skip_seeds_without_an_evaluation() -> None:
    curves = {0: _curve([1, 3]), 1: _curve([]), 2: _curve([2, 5])}
    entry = lr.seed_finals(curves, walls=[60.0, 100.0, 80.0], fps=[10.0, 30.0, 20.0])
    assert entry["seeds"] == 2 and entry["final_per_seed"] == {0: 3.0, 2: 5.0}
    assert entry["final_mean"] == 4.0 and 3.0 <= entry["final_ci95"][0] <= entry["final_ci95"][1] <= 5.0
    assert (entry["wall_time_median_s"], entry["fps_median"]) == (80.0, 20.0)
    assert lr.seed_finals({}, [], []) == {"seeds": 0, "final_per_seed": {}}


def test_tuned_vs_tuned_pairs_the_common_seeds() -> None:
    base = {
        str(s): {"steps": 4000, "seconds_to_target": 40.0, "wall_seconds": 40.0, "final": 1.0}
        for s in range(3)
    }
    arm = {
        str(s): {"steps": 2000, "seconds_to_target": 40.0, "wall_seconds": 80.0, "final": 2.0}
        for s in (1, 2, 3)
    }
    h2h = lr.tuned_vs_tuned(base, arm)
    assert h2h["seeds"] == ["1", "2"]  # seed 0: base only, seed 3: arm only
    assert h2h["speedup"]["point"] == 2.0 and h2h["wallclock_speedup"]["point"] == 1.0
    assert h2h["throughput"]["point"] == 0.5 and h2h["final_minus_tuned_ppo"]["point"] == pytest.approx(1.0)


def test_best_configs_wait_for_every_score() -> None:
    assert lr.best_configs({"a": [[1.0, 3.0], [2.0, 4.0]], "b": [[5.0, 5.0], [1.0, 1.0]]}) == {"a": 1, "b": 0}
    assert lr.best_configs({"a": [[1.0, None]]}) is None
