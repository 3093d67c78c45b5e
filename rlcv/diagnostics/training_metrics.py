"""What MBMF's control variate did during training, read from runs' ``metrics.csv`` (one row per update):
how often the trust gate was on, how much of the score-term variance the CV removed in training
(Var(Â − η_a D_a − η_τ D_τ) / Var(Â)), and the model's held-out errors. Empty and 'nan' cells (an update
that logged no value) are left out of every statistic. `rlcv bench gate` is the page of these numbers.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.stats import Interval, median_bootstrap

__all__ = ["read_metrics", "logged", "quarter_means", "run_stats", "runs_stats", "pooled", "window_stats"]


def read_metrics(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def logged(rows: Sequence[Mapping[str, str]], key: str) -> list[float]:
    """The column's logged values (empty, missing and 'nan' cells left out)."""
    return [float(r[key]) for r in rows if r.get(key) not in (None, "", "nan")]


def quarter_means(gate: list[float]) -> list[float]:
    """Mean of each quarter of the updates (quarters of len // 4 updates; the remainder is left out, and a
    run of under 4 updates has quarters of one update, the missing ones 0)."""
    q = max(1, len(gate) // 4)
    return [statistics.mean(gate[i * q : (i + 1) * q] or [0.0]) for i in range(4)]


def run_stats(rows: Sequence[Mapping[str, str]]) -> dict[str, Any] | None:
    """One run over its updates: the gate's mean and quarter means, the median k-step model error, the
    score-term variance ratio's mean and median, the median held-out ratio (None where not logged); None
    for a run that logged no gate (not an MBMF run)."""
    gate = logged(rows, "cv_gate")
    if not gate:
        return None
    err, svr = logged(rows, "model_error_kstep"), logged(rows, "cv_score_var_ratio")
    held = logged(rows, "cv_heldout_ratio")
    return {
        "gate_mean": statistics.mean(gate),
        "gate_quarters": quarter_means(gate),
        "kstep_error_median": statistics.median(err) if err else None,
        "score_var_ratio_mean": statistics.mean(svr) if svr else None,
        "score_var_ratio_median": statistics.median(svr) if svr else None,
        "heldout_ratio_median": statistics.median(held) if held else None,
    }


def _metrics_files(runs_dir: Path) -> list[Path]:
    """Every ``runs_dir/ENV/sSEED/metrics.csv``, in path order."""
    return [p for p in sorted(runs_dir.glob("*/s*/metrics.csv")) if p.parent.name[1:].isdigit()]


def runs_stats(runs_dir: Path) -> list[tuple[str, int, dict[str, Any]]]:
    """(env, seed, :func:`run_stats`) of every ``runs_dir/ENV/sSEED/metrics.csv`` that logged a gate, by
    env and seed."""
    found = sorted((p.parent.parent.name, int(p.parent.name[1:]), p) for p in _metrics_files(runs_dir))
    rows = [(env, seed, run_stats(read_metrics(p))) for env, seed, p in found]
    return [(env, seed, r) for env, seed, r in rows if r is not None]


def pooled(runs_dir: Path) -> dict[str, Interval]:
    """Per env, the median over runs of each run's median score-term variance ratio (every run that logged
    one), with a seed-bootstrap interval: the "median in training" read over seeds, so that one run's luck
    is not the verdict."""
    per_env: dict[str, list[float]] = {}
    for p in _metrics_files(runs_dir):  # path order, as the committed pages' bootstraps drew them
        if svr := logged(read_metrics(p), "cv_score_var_ratio"):
            per_env.setdefault(p.parent.parent.name, []).append(statistics.median(svr))
    return {env: median_bootstrap(v) for env, v in per_env.items()}


def window_stats(rows: Sequence[Mapping[str, str]], lo: int, hi: int) -> dict[str, float] | None:
    """Over the updates LO < step ≤ HI: the score-term variance ratio's mean and median, the gate's mean,
    the median 1-step model error (NaN where not logged); None when no update lies in the window."""

    def column(key: str) -> np.ndarray:
        return np.array([float(r[key]) if r.get(key) else np.nan for r in rows])

    step, ratio, gate, e1 = (
        column(k) for k in ("step", "cv_score_var_ratio", "cv_gate", "model_error_1step")
    )
    m = (step > lo) & (step <= hi)
    if not m.any():
        return None
    return {
        "score_var_ratio_mean": float(np.nanmean(ratio[m])),
        "score_var_ratio_median": float(np.nanmedian(ratio[m])),
        "gate_mean": float(np.nanmean(gate[m])),
        "error_1step_median": float(np.nanmedian(e1[m])),
    }
