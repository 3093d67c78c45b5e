"""Paired-seed statistics and the verdicts the HPO benches are allowed to print.

Every method of a bench runs on the same inner seeds, so two methods are compared through the per-seed
differences d_s = a_s − b_s: mean ± a 95 % Student-t interval (n − 1 degrees of freedom; one pair: NaN
bounds, see :mod:`rlcv.bench.stats`). A verdict
"a beats b" needs the interval to exclude 0 on a's side; when it includes 0 the bench says the
difference is not resolved and names the interval instead of picking a winner.
"""

from __future__ import annotations

from typing import Any

from rlcv.bench.stats import paired_t

__all__ = ["paired_ci", "compare", "tuned_vs_fixed_verdict"]


def paired_ci(a: list[float], b: list[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and ``level`` t-interval of the paired differences a − b (seeds where both are finite), as the
    dict the HPO benches store in their summaries; computed by :func:`rlcv.bench.stats.paired_t`."""
    ci = paired_t(a, b, level)
    return {"mean": ci.point, "low": ci.low, "high": ci.high, "n": ci.n}


def compare(ci: dict[str, Any], higher_is_better: bool) -> str:
    """'better' / 'worse' when the interval of a − b excludes 0, else 'unresolved'."""
    if not ci["n"] or not (ci["low"] > 0 or ci["high"] < 0):
        return "unresolved"
    return "better" if (ci["low"] > 0) == higher_is_better else "worse"


def tuned_vs_fixed_verdict(
    tuned: list[float],
    fixed: list[float],
    *,
    tuned_name: str,
    fixed_name: str,
    metric: str,
    higher_is_better: bool,
    scale: float = 1.0,
    unit: str = "",
) -> dict[str, Any]:
    """May the report say "tuned ≥ fixed"? Only when the paired interval of tuned − fixed lies on tuned's
    side of 0. When the best fixed setting is within the interval (it includes 0) the verdict is refused
    and the text says so; when it lies on fixed's side the text says fixed is better. The text shows
    differences × ``scale`` followed by ``unit`` (e.g. 100, " points" for accuracies)."""
    ci = paired_ci(tuned, fixed)
    outcome = compare(ci, higher_is_better)
    m, lo, hi = (scale * ci[k] for k in ("mean", "low", "high"))
    interval = f"{m:+.3g} [{lo:+.3g}, {hi:+.3g}]{unit} over {ci['n']} paired seeds"
    if ci["n"] < 2:  # no spread to estimate: no interval (rlcv.bench.stats), so no verdict either
        interval = f"{m:+.3g}{unit} on {ci['n']} paired seed{'s' if ci['n'] != 1 else ''}, no interval"
    if outcome == "better":
        text = f"{tuned_name} beats the best fixed setting {fixed_name} on {metric}: "
        text += f"{tuned_name} − fixed = {interval}."
    elif outcome == "worse":
        text = f"the best fixed setting {fixed_name} beats {tuned_name} on {metric}: "
        text += f"{tuned_name} − fixed = {interval}."
    elif ci["n"] < 2:
        text = f"no verdict on {metric} against {fixed_name}: {tuned_name} − fixed = {interval}."
    else:
        text = (
            f"no verdict on {metric}: the best fixed setting {fixed_name} is within the 95 % CI of "
            f"{tuned_name} "
            f"({tuned_name} − fixed = {interval}), so this bench does not claim tuned ≥ fixed."
        )
    return {"ci": ci, "outcome": outcome, "claims_tuned_ge_fixed": outcome == "better", "text": text}
