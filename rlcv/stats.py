"""Seed statistics shared by every bench: one result shape, :class:`Interval`, for every interval.

Why one module: the paired t-interval had been written four times with three return shapes, and with
one pair one copy answered ±inf and another NaN. The conventions, for every function here:

- ``n`` counts the values (pairs) actually used. None and NaN are dropped (a pair is dropped when
  either side is), so a missing or diverged seed shows up as a smaller ``n``, not as a NaN mean. The
  t and mean-bootstrap functions drop ±inf as well; the median functions keep +inf (see below).
- 0 values: point, low and high NaN, n = 0. 1 value: point = the value, low and high NaN: there is no
  spread to estimate, and ±inf would read as a measured, unbounded interval.
- Bootstraps resample seeds with replacement from ``np.random.default_rng(seed)``: a regenerated
  report is byte-identical. Paired samples are resampled by pair (one index draws both sides).

Steps to a target. :func:`steps_to_target` (of :mod:`rlcv.learning_curves`) gives None for a seed
that never reaches the target. The median functions read None (and +inf) as "never": the seed's steps
are +inf, so a median stays defined while fewer than half the seeds never reach, and becomes +inf (an
interval bound too) when at least half do. The never-reaching seeds are counted per arm in
:attr:`Interval.never`, never dropped. A ratio of medians is then: finite / +inf = 0, +inf / finite =
+inf, +inf / +inf undefined (NaN). A bootstrap replicate with an undefined ratio says nothing on it and
is dropped; when more than (1 − level) / 2 of the replicates are, the interval is NaN, since either
bound could then be anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from rlcv.learning_curves import steps_to_target  # re-exported: a curve's steps to a target

__all__ = [
    "Interval",
    "jsonable",
    "from_jsonable",
    "mean_t",
    "paired_diffs",
    "paired_t",
    "paired_bootstrap",
    "median_bootstrap",
    "median_ratio_bootstrap",
    "steps_to_target",
]

LEVEL = 0.95
N_BOOT = 10_000  # as rlcv.plotting's bootstrap
SEED = 0

Value = float | int | None


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided interval; ``method`` names how it was computed, ``never``
    (steps-to-target statistics only) how many seeds of each arm never reached the target."""

    point: float
    low: float
    high: float
    n: int
    method: str
    never: tuple[int, ...] = ()

    def excludes(self, value: float = 0.0) -> bool:
        """True when the interval lies strictly on one side of ``value`` (False when it is NaN)."""
        return self.low > value or self.high < value

    def as_tuple(self) -> tuple[float, float, float]:
        return self.point, self.low, self.high

    def scaled(self, factor: float) -> Interval:
        """The interval of ``factor`` × the statistic (e.g. 100: a fraction in points); ``factor`` > 0."""
        if not factor > 0:
            raise ValueError(f"an interval scales by a positive factor, got {factor}")
        return replace(self, point=factor * self.point, low=factor * self.low, high=factor * self.high)

    def fmt(self, spec: str = "+.3g") -> str:
        """'+396 [-104, +896]' for spec '+.0f'; the point alone without an interval, '—' without a point.
        Python's formatting (ASCII minus), so the pages the benches generate stay byte-identical."""
        if math.isnan(self.point):
            return "—"
        if math.isnan(self.low):
            return f"{self.point:{spec}}"
        return f"{self.point:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"


def jsonable(obj: Any) -> Any:
    """``obj`` as strict JSON: each :class:`Interval` a dict of its fields, NaN null, ±inf the strings
    "inf" / "-inf" (a median of steps when half the seeds or more never reach), dict keys strings,
    tuples lists. The one interval-to-JSON conversion of the benches (:func:`from_jsonable` reads an
    interval back)."""
    if isinstance(obj, Interval):
        return jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def from_jsonable(d: dict[str, Any]) -> Interval:
    """The :class:`Interval` that :func:`jsonable` wrote as ``d`` (null NaN, "inf" / "-inf" ±inf)."""

    def num(x: float | str | None) -> float:
        return math.nan if x is None else float(x)

    never = tuple(d.get("never", ()))
    return Interval(num(d["point"]), num(d["low"]), num(d["high"]), d["n"], d.get("method", ""), never)


def _nan(n: int, method: str, point: float = math.nan, never: tuple[int, ...] = ()) -> Interval:
    return Interval(point, math.nan, math.nan, n, method, never)


def _finite(values: Sequence[Value] | np.ndarray) -> np.ndarray:
    return np.asarray([float(x) for x in values if x is not None and math.isfinite(x)], np.float64)


def paired_diffs(a: Sequence[Value], b: Sequence[Value]) -> np.ndarray:
    """a_s − b_s over the pairs where both sides are finite (the samples must be paired: equal lengths)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    return _finite([x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None])


def _t(v: np.ndarray, level: float, method: str) -> Interval:
    from scipy import stats

    n = len(v)
    if n == 0:
        return _nan(0, method)
    mean = float(v.mean())
    if n == 1:
        return _nan(1, method, mean)
    # The expression (and its order) of the copies this replaced, so their numbers keep every bit (ldf's
    # copy used statistics.stdev: its bounds move by ~1e-14 relative, its pages not at all).
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, method)


def mean_t(values: Sequence[Value], level: float = LEVEL) -> Interval:
    """Mean of the finite ``values`` and its two-sided Student-t interval (n − 1 degrees of freedom)."""
    return _t(_finite(values), level, "t")


def paired_t(a: Sequence[Value], b: Sequence[Value], level: float = LEVEL) -> Interval:
    """Mean of the paired differences a − b and its Student-t interval (seeds are the pairs)."""
    return _t(paired_diffs(a, b), level, "paired t")


def paired_bootstrap(
    a: Sequence[Value], b: Sequence[Value], level: float = LEVEL, n_boot: int = N_BOOT, seed: int = SEED
) -> Interval:
    """Mean of the paired differences a − b with a percentile-bootstrap interval (pairs resampled)."""
    from rlcv.plotting import bootstrap_ci  # the one mean bootstrap, so bands and tables agree

    d = paired_diffs(a, b)
    if len(d) < 2:  # bootstrap_ci collapses to the value; the convention here is NaN
        return _nan(len(d), "paired bootstrap", float(d[0]) if len(d) else math.nan)
    low, high = bootstrap_ci(d, n_boot=n_boot, confidence=level, rng=np.random.default_rng(seed))
    return Interval(float(d.mean()), low, high, len(d), "paired bootstrap")


def _steps(values: Sequence[Value]) -> np.ndarray:
    """None → +inf (never reached); NaN stays NaN for the caller to drop."""
    return np.asarray([math.inf if x is None else float(x) for x in values], np.float64)


def _bounds(reps: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile bounds as order statistics (no interpolation: a replicate can be +inf, and numpy's
    interpolation between +inf and a finite value gives NaN). Undefined (NaN) replicates are dropped."""
    alpha = (1.0 - level) / 2
    kept = reps[~np.isnan(reps)]
    if len(kept) < (1.0 - alpha) * len(reps):
        return math.nan, math.nan
    low, high = np.quantile(kept, [alpha, 1.0 - alpha], method="inverted_cdf")
    return float(low), float(high)


def median_bootstrap(
    values: Sequence[Value], level: float = LEVEL, n_boot: int = N_BOOT, seed: int = SEED
) -> Interval:
    """Median over seeds with a percentile-bootstrap interval; None/+inf = never reached (module doc)."""
    x = _steps(values)
    x = x[~np.isnan(x)]
    never = (int(np.isinf(x).sum()),)
    if len(x) < 2:
        return _nan(len(x), "median bootstrap", float(x[0]) if len(x) else math.nan, never)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
    low, high = _bounds(np.median(x[idx], axis=1), level)
    return Interval(float(np.median(x)), low, high, len(x), "median bootstrap", never)


def _ratio(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # inf/inf and 0/0 are NaN: undefined
        return np.asarray(np.divide(a, b), np.float64)


def median_ratio_bootstrap(
    a: Sequence[Value],
    b: Sequence[Value],
    *,
    paired: bool,
    level: float = LEVEL,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> Interval:
    """median(a) / median(b) (e.g. steps to a target of arm A over arm B) with a percentile-bootstrap
    interval: seeds resampled by pair when ``paired`` (equal lengths; a pair with a NaN side is
    dropped), each arm on its own otherwise. None/+inf = never reached (module doc). ``n``: the pairs,
    or the smaller arm's seeds; below 2 the interval is NaN."""
    x, y = _steps(a), _steps(b)
    if paired:
        if len(x) != len(y):
            raise ValueError(f"paired samples need equal lengths, got {len(x)} and {len(y)}")
        keep = ~(np.isnan(x) | np.isnan(y))
        x, y = x[keep], y[keep]
    else:
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    n = min(len(x), len(y))
    never = (int(np.isinf(x).sum()), int(np.isinf(y).sum()))
    method = "paired median-ratio bootstrap" if paired else "median-ratio bootstrap"
    if len(x) == 0 or len(y) == 0:
        return _nan(n, method, never=never)
    point = float(_ratio(np.median(x), np.median(y)))
    if n < 2:
        return _nan(n, method, point, never)
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(x), size=(n_boot, len(x)))
    ib = ia if paired else rng.integers(0, len(y), size=(n_boot, len(y)))
    low, high = _bounds(_ratio(np.median(x[ia], axis=1), np.median(y[ib], axis=1)), level)
    return Interval(point, low, high, n, method, never)
