"""What the benches read off a finished run's evaluation curve: its return at a step, the first step at
which it reaches a target, the seed-mean curve, the mean return over the run.

A curve is :class:`rlcv.plotting.SeedCurve` (increasing env ``steps``, matching ``values``), as
``rlcv plot`` draws it, whether it was read from a run folder (:func:`rlcv.plotting.read_metric`) or
from a run's committed summary (:func:`from_summary`; summaries are written by
:mod:`rlcv.bench.runs`). The seed bootstraps of medians and of ratios of steps to a target, read off
these numbers, are :mod:`rlcv.stats`'s.

"Never" is None: a curve that never reaches a target has no steps to it, and the statistics count such
a seed as never reaching, not as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rlcv.plotting import SeedCurve

__all__ = [
    "from_summary",
    "point_at",
    "value_at",
    "steps_to_target",
    "first_reaching",
    "mean_curve",
    "mean_return",
]


def from_summary(summary: Mapping[str, Any]) -> SeedCurve:
    """The eval curve (``eval_return_mean`` per evaluation) a run summary holds under ``eval``."""
    ev = summary["eval"]
    return SeedCurve(np.asarray(ev["steps"], np.int64), np.asarray(ev["return_mean"], np.float64))


def point_at(curve: SeedCurve, step: int) -> tuple[int, float] | None:
    """(eval step, value) of the last evaluation at or before ``step``; None before the first."""
    i = int(np.searchsorted(curve.steps, step, side="right")) - 1
    return (int(curve.steps[i]), float(curve.values[i])) if i >= 0 else None


def value_at(curve: SeedCurve, step: int) -> float | None:
    """The value at the last evaluation at or before ``step`` (None before the first)."""
    point = point_at(curve, step)
    return None if point is None else point[1]


def steps_to_target(steps: Sequence[int], returns: Sequence[float], target: float) -> int | None:
    """First evaluation step whose return is ≥ ``target``; None if the curve never reaches it."""
    return next((int(s) for s, r in zip(steps, returns, strict=True) if r >= target), None)


def first_reaching(curve: SeedCurve, target: float) -> int | None:
    """:func:`steps_to_target` of a curve."""
    return steps_to_target(curve.steps.tolist(), curve.values.tolist(), target)


def mean_curve(curves: Sequence[SeedCurve]) -> SeedCurve | None:
    """The seed-mean curve when every curve was evaluated at the same steps (else None: averaging
    curves on different grids would mix evaluations of different steps)."""
    if not curves or len({tuple(c.steps.tolist()) for c in curves}) != 1:
        return None
    return SeedCurve(curves[0].steps, np.mean([c.values for c in curves], axis=0))


def mean_return(curve: SeedCurve) -> float | None:
    """The mean value over all evaluations (the area under the eval curve per evaluation, which rewards
    learning early as well as ending high); None for an empty curve."""
    return float(np.mean(curve.values)) if len(curve.values) else None
