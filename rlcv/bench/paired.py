"""The verdicts the HPO benches are allowed to print, read off a paired interval of :mod:`rlcv.stats`.

Every method of a bench runs on the same inner seeds, so two methods are compared through the per-seed
differences d_s = a_s − b_s (:func:`rlcv.stats.paired_t`: mean and 95 % Student-t interval; one
pair: no interval). A verdict "a beats b" needs the interval to exclude 0 on a's side; when it includes
0 the bench says the difference is not resolved and names the interval instead of picking a winner.
"""

from __future__ import annotations

from typing import Any

from rlcv.stats import Interval, paired_t

__all__ = ["outcome", "tuned_vs_fixed_verdict"]


def outcome(iv: Interval, higher_is_better: bool) -> str:
    """'better' / 'worse' (for a) when the interval of a − b excludes 0, else 'unresolved' (no interval
    included)."""
    if not iv.excludes(0.0):
        return "unresolved"
    return "better" if (iv.low > 0) == higher_is_better else "worse"


def _interval_text(iv: Interval, unit: str) -> str:
    if iv.n < 2:  # no spread to estimate: no interval (rlcv.stats), so no verdict either
        return f"{iv.point:+.3g}{unit} on {iv.n} paired seed{'s' if iv.n != 1 else ''}, no interval"
    return f"{iv.fmt('+.3g')}{unit} over {iv.n} paired seeds"


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
    differences × ``scale`` followed by ``unit`` (e.g. 100, " points" for accuracies); ``ci`` is the
    unscaled interval."""
    ci = paired_t(tuned, fixed)
    result = outcome(ci, higher_is_better)
    interval = _interval_text(ci.scaled(scale), unit)
    if result == "better":
        text = f"{tuned_name} beats the best fixed setting {fixed_name} on {metric}: "
        text += f"{tuned_name} − fixed = {interval}."
    elif result == "worse":
        text = f"the best fixed setting {fixed_name} beats {tuned_name} on {metric}: "
        text += f"{tuned_name} − fixed = {interval}."
    elif ci.n < 2:
        text = f"no verdict on {metric} against {fixed_name}: {tuned_name} − fixed = {interval}."
    else:
        text = (
            f"no verdict on {metric}: the best fixed setting {fixed_name} is within the 95 % CI of "
            f"{tuned_name} "
            f"({tuned_name} − fixed = {interval}), so this bench does not claim tuned ≥ fixed."
        )
    return {"ci": ci, "outcome": result, "claims_tuned_ge_fixed": result == "better", "text": text}
