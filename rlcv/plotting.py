"""Learning curves across seeds: alignment, bootstrap confidence intervals, matplotlib figures.

Shared by `rlcv bench learn` and `rlcv plot`, so that a curve in ``results/`` and a curve a user
draws from their own runs are computed the same way.

Alignment. Seeds of one algorithm need not log at the same env steps (an SB3 run and an rlcv run
count updates differently; an unfinished seed stops early). Every seed is therefore put on the
union of all logged steps as a step function: its value at step ``x`` is its most recent logged
value at or before ``x`` ("what we knew about this policy at step x"). Before its first and after
its last logged point a seed is missing (NaN), so a finished seed never drags a crashed one along.
The grid starts where every seed has logged once, so the first points do not rest on the one seed
that happened to log first.

Uncertainty. Bands and table entries are 95% percentile-bootstrap intervals of the mean over seeds
(resampling seeds with replacement), with a fixed generator seed so that regenerated results are
byte-identical. With one seed the interval collapses to the value itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rlcv.errors import RlcvError, did_you_mean
from rlcv.files import save_figure
from rlcv.run_dir import RunDir

CONFIDENCE = 0.95
N_BOOTSTRAP = 10_000
BOOTSTRAP_SEED = 0
METRICS = ("eval_return_mean", "episode_return_mean")  # the usual ones; any metrics.csv column can be plotted


@dataclass(frozen=True)
class SeedCurve:
    """One run's logged values of a metric: strictly increasing ``steps`` and matching ``values``."""

    steps: np.ndarray  # (T,) int
    values: np.ndarray  # (T,) float


@dataclass(frozen=True)
class CurveSummary:
    """Seed mean and bootstrap band of one algorithm on one env, on the aligned step grid."""

    steps: np.ndarray  # (G,)
    mean: np.ndarray  # (G,)
    low: np.ndarray  # (G,)
    high: np.ndarray  # (G,)
    n_seeds: np.ndarray  # (G,) seeds present at each grid step


def read_metric(source: RunDir | Path, metric: str) -> SeedCurve:
    """The non-empty values of ``metric`` in a run's metrics.csv (eval rows only, for eval metrics);
    ``source`` is the run, or the path of its metrics.csv."""
    run = source if isinstance(source, RunDir) else RunDir(Path(source).parent)
    columns = run.metrics_columns()
    if metric not in columns:
        others = [c for c in columns if c != "step"]
        raise RlcvError(
            f"'{run.metrics}' has no column '{metric}'.{did_you_mean(metric, others)} "
            f"Columns: {', '.join(others)}."
        )
    steps: list[int] = []
    values: list[float] = []
    for row in run.metrics_rows():
        text = row.get(metric) or ""
        if text == "":
            continue
        value = float(text)
        if math.isnan(value):
            continue
        step = int(float(row["step"]))
        if steps and step <= steps[-1]:  # a resumed run can repeat a step: keep the latest value
            while steps and steps[-1] >= step:
                steps.pop()
                values.pop()
        steps.append(step)
        values.append(value)
    return SeedCurve(np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64))


def bootstrap_ci(
    values: np.ndarray,
    *,
    n_boot: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of 1-D ``values`` (no NaNs)."""
    low, high = _bootstrap_columns(
        np.asarray(values, dtype=np.float64)[:, None], n_boot=n_boot, confidence=confidence, rng=rng
    )
    return float(low[0]), float(high[0])


def _bootstrap_columns(
    matrix: np.ndarray, *, n_boot: int, confidence: float, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of the column means of ``matrix`` (seeds, columns), one resampling shared by all
    columns: seed i is resampled as a whole, as a seed is one unit of randomness."""
    n = matrix.shape[0]
    if n == 1:
        return matrix[0].copy(), matrix[0].copy()
    rng = rng if rng is not None else np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = matrix[idx].mean(axis=1)  # (n_boot, columns)
    alpha = (1.0 - confidence) / 2.0
    return np.quantile(means, alpha, axis=0), np.quantile(means, 1.0 - alpha, axis=0)


def align(curves: Sequence[SeedCurve]) -> tuple[np.ndarray, np.ndarray]:
    """Put seeds on a common step grid as step functions; returns ``(grid (G,), values (seeds, G))``
    with NaN where a seed has no value (see the module docstring)."""
    curves = [c for c in curves if len(c.steps)]
    if not curves:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0))
    start = max(int(c.steps[0]) for c in curves)
    grid = np.unique(np.concatenate([c.steps for c in curves]))
    grid = grid[grid >= start]
    matrix = np.full((len(curves), len(grid)), np.nan)
    for i, c in enumerate(curves):
        pos = np.searchsorted(c.steps, grid, side="right") - 1  # index of the last value at or before
        inside = (pos >= 0) & (grid <= c.steps[-1])
        matrix[i, inside] = c.values[pos[inside]]
    return grid, matrix


def summarize(
    curves: Sequence[SeedCurve], *, n_boot: int = 2_000, confidence: float = CONFIDENCE
) -> CurveSummary:
    """Seed mean and bootstrap band on the aligned grid. Grid steps are grouped by which seeds are
    present, and each group is bootstrapped over exactly those seeds."""
    grid, matrix = align(curves)
    mean = np.full(len(grid), np.nan)
    low, high = mean.copy(), mean.copy()
    present = ~np.isnan(matrix)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    for pattern in {tuple(col) for col in present.T}:
        rows = np.asarray(pattern, dtype=bool)
        if not rows.any():
            continue
        cols = (present == rows[:, None]).all(axis=0)
        sub = matrix[np.ix_(rows, cols)]
        mean[cols] = sub.mean(axis=0)
        low[cols], high[cols] = _bootstrap_columns(sub, n_boot=n_boot, confidence=confidence, rng=rng)
    return CurveSummary(steps=grid, mean=mean, low=low, high=high, n_seeds=present.sum(axis=0))


def first_step_reaching(summary: CurveSummary, target: float) -> int | None:
    """First grid step at which the seed-mean curve is >= ``target``; None if it never is."""
    hits = np.flatnonzero(summary.mean >= target)
    return int(summary.steps[hits[0]]) if len(hits) else None


def _label(metric: str) -> str:
    return {
        "eval_return_mean": "evaluation return (deterministic)",
        "episode_return_mean": "training episode return (last 100)",
    }.get(metric, metric)


def plot_curves(
    groups: Mapping[str, Mapping[str, Sequence[SeedCurve]]],
    out: Path,
    *,
    metric: str = "eval_return_mean",
    title: str | None = None,
) -> Path:
    """Draw ``groups[env][algo] = [seed curves]``: one panel per env, one line per algo (seed mean)
    with its bootstrap band; the legend says how many seeds each line averages."""
    import matplotlib

    matplotlib.use("Agg")  # headless: benches run on servers and in CI
    import matplotlib.pyplot as plt

    envs = [e for e, algos in groups.items() if any(len(c.steps) for cs in algos.values() for c in cs)]
    if not envs:
        raise RlcvError(
            f"no '{metric}' values to plot; train with --eval-freq N for evaluation curves, "
            f"or pass --metric episode_return_mean."
        )
    cols = min(len(envs), 3)
    rows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 4.2 * rows), squeeze=False)
    try:  # closed also when drawing or saving fails: pyplot keeps open figures alive
        banded = any(len(cs) > 1 for e in envs for cs in groups[e].values())
        for ax, env in zip(axes.flat, envs, strict=False):
            for algo, curves in groups[env].items():
                present = [c for c in curves if len(c.steps)]
                if not present:
                    continue
                s = summarize(present)
                (line,) = ax.plot(
                    s.steps, s.mean, label=f"{algo} ({len(present)} seed{'s' * (len(present) != 1)})"
                )
                if len(present) > 1:
                    ax.fill_between(s.steps, s.low, s.high, color=line.get_color(), alpha=0.2, linewidth=0)
            ax.set_title(env if title is None or len(envs) > 1 else title)
            ax.set_xlabel("env steps")
            ax.set_ylabel(_label(metric))
            ax.grid(alpha=0.3)
            ax.legend(
                fontsize="small",
                title=f"seed mean, {CONFIDENCE:.0%} bootstrap CI" if banded else None,
                title_fontsize="x-small",
            )
        for ax in list(axes.flat)[len(envs) :]:
            ax.set_visible(False)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, out, dpi=120)
    finally:
        plt.close(fig)
    return out


def run_identity(run_dir: str | Path | RunDir) -> tuple[str, str]:
    """(algo, env) of a run directory, read from its config.yaml."""
    meta = (run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)).read_meta()
    return str(meta["algo"]), str(meta["env"])


def plot_runs(run_dirs: Sequence[str | Path], out: Path, *, metric: str = "eval_return_mean") -> Path:
    """`rlcv plot`: group runs by (env, algo) from their config.yaml, seeds become a CI band."""
    groups: dict[str, dict[str, list[SeedCurve]]] = {}
    for run in map(RunDir, run_dirs):
        algo, env = run_identity(run)
        if not run.metrics.is_file():
            raise RlcvError(f"'{run}' has no metrics.csv yet; has the run started?")
        groups.setdefault(env, {}).setdefault(algo, []).append(read_metric(run, metric))
    return plot_curves(groups, out, metric=metric)
