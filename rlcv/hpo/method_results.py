"""Reading HPO methods' per-run summaries side by side (:mod:`rlcv.hpo.runners`' summaries, one per
method and inner seed): each method's test accuracy and validation loss per seed, the grid point with
the lowest mean validation loss, and one default run's cost in each unit — the quantities
`rlcv bench hpo-budget` and `rlcv bench dualcutout` compare with paired intervals.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from rlcv.hpo.runners import UNITS

WORST_VAL = 1e3  # a diverged run's validation loss (inf or NaN) counts as this finite worst
Results = dict[str, dict[int, dict[str, Any]]]  # method → inner seed → per-run summary


def finite(v: float) -> float:
    """A validation loss, a diverged run's (inf or NaN) as :data:`WORST_VAL`."""
    return v if math.isfinite(v) else WORST_VAL


def acc(results: Results, m: str, seeds: list[int]) -> list[float]:
    """Test accuracy of method ``m`` per seed."""
    return [results[m][s]["test_accuracy"] for s in seeds]


def val(results: Results, m: str, seeds: list[int]) -> list[float]:
    """Final validation loss of method ``m`` per seed, a diverged run's as :data:`WORST_VAL`."""
    return [finite(results[m][s]["val_loss"]) for s in seeds]


def best_grid_point(results: Results, prefix: str) -> str | None:
    """The method ``{prefix}-lr<x>`` (a grid of fixed or cosine learning rates) with the lowest mean
    validation loss over its seeds; None without such methods."""
    names = [m for m in results if m.startswith(prefix + "-lr")]
    if not names:
        return None
    return min(names, key=lambda m: statistics.fmean(finite(r["val_loss"]) for r in results[m].values()))


def unit_run(results: Results, seeds: list[int]) -> dict[int, dict[str, float]]:
    """One run's worth of each cost unit (:data:`rlcv.hpo.runners.UNITS`), per seed: the cost of the
    default fixed run (the grid's lowest lr, the env's default), or of the lowest-lr cosine run where
    there is no fixed grid (same SGD steps and examples); NaN without either."""
    out: dict[int, dict[str, float]] = {}
    prefix = "fixed-lr" if any(m.startswith("fixed-lr") for m in results) else "cosine-lr"
    default = min(
        (m for m in results if m.startswith(prefix)), key=lambda m: float(m[len(prefix) :]), default=None
    )
    for s in seeds:
        base = results[default][s]["cost"] if default else None
        out[s] = {u: (base[u] if base else math.nan) for u in UNITS}
    return out
