"""Paired readings of finished learning runs: one evaluation curve per (arm, seed), read into final
returns, steps to a target return, speed-ups and their seed intervals (:mod:`rlcv.stats`).

A run is anything with the fields of :class:`Run` (a bench's :class:`rlcv.bench.summaries.Finished`,
read from a committed summary); arms are paired by seed. "Never" is None: a seed that never reaches a
target counts as never (+inf steps in a median), not as missing. The readings:

- :func:`paired_reading`: two arms on their common seeds, a target return per target step
  (`rlcv bench compare`);
- :func:`speedups_over_base`: per seed, each arm's steps to the base arm's own return at a step
  (`rlcv bench oracle`);
- :func:`arm_against_base`, :func:`wallclock_vs_base`, :func:`tuned_vs_tuned`, :func:`best_configs`:
  arms tuned on one grid, then evaluated on fresh seeds (`rlcv bench oracle-spent` / `tuned-pair`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from rlcv import learning_curves as lc
from rlcv import stats
from rlcv.plotting import SeedCurve

__all__ = [
    "Run",
    "seed_finals",
    "final_block",
    "target_block",
    "last_update_block",
    "paired_reading",
    "speedups_over_base",
    "best_configs",
    "arm_against_base",
    "wallclock_vs_base",
    "tuned_vs_tuned",
]


class Run(Protocol):
    """A finished run: its eval curve, its last metrics row, its wall seconds (None: unknown)."""

    @property
    def curve(self) -> SeedCurve: ...

    @property
    def last(self) -> dict[str, float]: ...

    @property
    def wall_seconds(self) -> float | None: ...

    @property
    def final(self) -> float: ...

    def steps_to(self, target: float) -> int | None: ...


# -- one arm's seeds ----------------------------------------------------------------------------------
def seed_finals(
    curves: Mapping[int, SeedCurve], walls: Sequence[float], fps: Sequence[float]
) -> dict[str, Any]:
    """One arm's runs: the final return (last evaluation) of each seed with an evaluation, their mean with
    its 95 % percentile-bootstrap interval (:func:`rlcv.plotting.bootstrap_ci`), and the median of the
    runs' wall seconds and steps per second."""
    from rlcv.plotting import bootstrap_ci

    finals = {s: float(c.values[-1]) for s, c in curves.items() if len(c.steps)}
    entry: dict[str, Any] = {"seeds": len(finals), "final_per_seed": finals}
    if finals:
        low, high = bootstrap_ci(np.asarray(list(finals.values())))
        entry.update(final_mean=statistics.fmean(finals.values()), final_ci95=[low, high])
    if walls:
        entry.update(wall_time_median_s=statistics.median(walls), fps_median=statistics.median(fps))
    return entry


# -- two arms on their common seeds --------------------------------------------------------------------
def final_block(base: Sequence[Run], arm: Sequence[Run], seeds: Sequence[int]) -> dict[str, Any]:
    """Final returns per seed, the paired difference arm − base (t and bootstrap), each arm's worst seed."""
    fb, fa = [r.final for r in base], [r.final for r in arm]
    worst_b, worst_a = int(np.argmin(fb)), int(np.argmin(fa))
    return {
        "base": fb,
        "arm": fa,
        "base_mean": float(np.mean(fb)),
        "arm_mean": float(np.mean(fa)),
        "paired_t": stats.paired_t(fa, fb),
        "paired_bootstrap": stats.paired_bootstrap(fa, fb),
        "worst_base": {"seed": seeds[worst_b], "return": fb[worst_b]},
        "worst_arm": {"seed": seeds[worst_a], "return": fa[worst_a]},
        "arm_all_above_base_worst": min(fa) > min(fb),
    }


def _curve_reach(runs: Sequence[Run], target: float) -> int | None:
    """Where the seed-mean curve reaches ``target`` (None: never, or the seeds' grids differ)."""
    mean = lc.mean_curve([r.curve for r in runs])
    return lc.first_reaching(mean, target) if mean else None


def target_block(base: Sequence[Run], arm: Sequence[Run], step: int | None) -> dict[str, Any]:
    """Steps of each arm to the base's seed-mean return at ``step`` (each seed's last evaluation at or
    before it; None: its final evaluation); the speed-up is the ratio of median steps, base / arm, with
    a paired seed-bootstrap interval."""
    if step is None:
        points = [(int(r.curve.steps[-1]), r.final) for r in base]
    else:
        found = [lc.point_at(r.curve, step) for r in base]
        if any(p is None for p in found):
            return {"step": step, "skipped": "a base seed has no evaluation at or before this step"}
        points = [p for p in found if p is not None]
    target = float(np.mean([p[1] for p in points]))
    sb, sa = [r.steps_to(target) for r in base], [r.steps_to(target) for r in arm]
    return {
        "step": step,
        "first_eval_step": min(int(r.curve.steps[0]) for r in (*base, *arm)),
        "eval_steps": sorted({p[0] for p in points}),
        "target_return": target,
        "base_steps": sb,
        "arm_steps": sa,
        "base_median": stats.median_bootstrap(sb),
        "arm_median": stats.median_bootstrap(sa),
        "speedup": stats.median_ratio_bootstrap(sb, sa, paired=True),
        "base_curve_reaches": _curve_reach(base, target),
        "arm_curve_reaches": _curve_reach(arm, target),
    }


def last_update_block(
    base: Sequence[Run], arm: Sequence[Run], keys: Sequence[str]
) -> dict[str, dict[str, list[float | None]]]:
    """The last metrics row's ``keys`` that either arm logged: per-seed values of each arm."""
    return {
        key: {"base": [r.last.get(key) for r in base], "arm": [r.last.get(key) for r in arm]}
        for key in keys
        if any(key in r.last for r in (*base, *arm))
    }


def paired_reading(
    base_runs: Mapping[int, Run], arm_runs: Mapping[int, Run], targets: Sequence[int], keys: Sequence[str]
) -> dict[str, Any]:
    """Two arms' runs by seed, on their common seeds: the final block, a target block per target step
    and one at the base's final return, and the last metrics row's ``keys``."""
    seeds = sorted(set(base_runs) & set(arm_runs))
    base, arm = [base_runs[s] for s in seeds], [arm_runs[s] for s in seeds]
    return {
        "seeds": seeds,
        "unpaired_base": sorted(set(base_runs) - set(seeds)),
        "unpaired_arm": sorted(set(arm_runs) - set(seeds)),
        "final": final_block(base, arm, seeds),
        "targets": [target_block(base, arm, t) for t in [*targets, None]],
        "last_update": last_update_block(base, arm, keys),
    }


# -- each arm against the base arm's own return, seed by seed --------------------------------------
def _mean_ci(values: list[float], base: list[float] | None = None) -> dict[str, Any]:
    """Mean over seeds (of the paired differences to ``base``; without it the plain mean) with its 95 %
    seed-bootstrap interval, as strict JSON (null bounds below 2 seeds)."""
    result: dict[str, Any] = stats.jsonable(
        stats.paired_bootstrap(values, base if base is not None else [0.0] * len(values))
    )
    return result


def _ratio_stats(
    curves: Mapping[int, SeedCurve], base: Mapping[int, SeedCurve], targets: Mapping[int, float], **at: int
) -> dict[str, Any]:
    """One arm's per-seed steps to target, speed-ups (target step / steps) and final returns (paired
    with the base arm's)."""
    per_seed: dict[str, Any] = {}
    speedups, steps_hit, finals, paired_finals, base_finals = [], [], [], [], []
    never, no_baseline = [], []
    for seed, curve in sorted(curves.items()):
        final = lc.value_at(curve, at["final_step"])
        if final is not None:
            finals.append(final)
            base_final = lc.value_at(base[seed], at["final_step"]) if seed in base else None
            if base_final is not None:
                paired_finals.append(final)
                base_finals.append(base_final)
        if seed not in targets:
            no_baseline.append(seed)
            continue
        hit = lc.first_reaching(curve, targets[seed])
        per_seed[str(seed)] = {"target": targets[seed], "steps": hit, "final": final}
        if hit is None:
            never.append(seed)
        else:
            steps_hit.append(float(hit))
            speedups.append(at["target_step"] / hit)
    return {
        "seeds": per_seed,
        "n_seeds": len(curves),
        "reached": len(steps_hit),
        "never_reached": never,
        "no_baseline": no_baseline,
        "steps_to_target": _mean_ci(steps_hit),
        "speedup": _mean_ci(speedups),
        "final_return": _mean_ci(finals),
        "final_minus_r1": _mean_ci(paired_finals, base_finals),
    }


def speedups_over_base(
    curves: Mapping[int, Mapping[int, SeedCurve]], *, target_step: int, final_step: int, base: int = 1
) -> dict[str, Any]:
    """Per arm of ``curves[arm][seed]``: per seed, the steps to that seed's ``base``-arm return at the
    last evaluation ≤ ``target_step``, the speed-up ``target_step / steps`` (mean over the seeds that
    reach it, seed bootstrap; the others listed as never) and the final return (last evaluation ≤
    ``final_step``) with its paired difference to the base arm. Seeds without a base run have no target
    and are listed under ``no_baseline``."""
    base_curves = curves.get(base, {})
    targets = {s: v for s, c in base_curves.items() if (v := lc.value_at(c, target_step)) is not None}
    out: dict[str, Any] = {"targets": {str(s): t for s, t in sorted(targets.items())}, "ratios": {}}
    for arm in sorted(curves):
        out["ratios"][str(arm)] = _ratio_stats(
            curves[arm], base_curves, targets, target_step=target_step, final_step=final_step
        )
    return out


# -- arms tuned on one grid, evaluated on fresh seeds --------------------------------------------------
def best_configs(scores: Mapping[Any, Sequence[Sequence[float | None]]]) -> dict[Any, int] | None:
    """``scores[arm][k]``: a tuning score per seed of configuration k. Each arm's configuration with the
    best mean score; None until every score is there."""
    if any(v is None for rows in scores.values() for row in rows for v in row):
        return None
    return {a: int(np.argmax([np.mean(row) for row in rows])) for a, rows in scores.items()}  # type: ignore[arg-type]


def _seconds_to(steps: int | None, wall: float | None, total: int) -> float | None:
    """Wall-clock to ``steps`` of a run of ``total`` steps, at the run's mean rate (None: never)."""
    return None if steps is None or wall is None else wall * steps / total


def arm_against_base(
    base: Mapping[int, Run], runs: Mapping[int, Run], *, target_step: int, steps: int, keys: Sequence[str]
) -> dict[str, Any]:
    """One arm's runs against the base arm's (both by seed), on the seeds both have where the base has an
    evaluation ≤ ``target_step``: per seed the target (the base's return there), the steps to it, the
    final return (last evaluation ≤ ``steps``), wall seconds and seconds to the target, and the last
    metrics row's ``keys``; over seeds the speed-up (the base's median steps over the arm's, paired seed
    bootstrap), the median final return, its paired difference to the base (t) and the median seconds
    to the target (a seed that never reaches it never gets there in wall-clock either)."""
    base_steps: list[int | None] = []
    arm_steps: list[int | None] = []
    finals: list[float | None] = []
    base_finals: list[float | None] = []
    per_seed = {}
    for s in sorted(set(base) & set(runs)):
        run, b = runs[s], base[s].curve
        target = lc.value_at(b, target_step)
        if target is None:
            continue
        arm_steps.append(run.steps_to(target))
        base_steps.append(lc.first_reaching(b, target))
        finals.append(lc.value_at(run.curve, steps))
        base_finals.append(lc.value_at(b, steps))
        wall = run.wall_seconds
        per_seed[str(s)] = {
            **{"target": target, "steps": arm_steps[-1], "final": finals[-1], "wall_seconds": wall},
            "seconds_to_target": _seconds_to(arm_steps[-1], wall, steps),
            **{key: run.last[key] for key in keys if key in run.last},
        }
    return {
        "seeds": per_seed,
        "speedup": stats.jsonable(stats.median_ratio_bootstrap(base_steps, arm_steps, paired=True)),
        "final_return": stats.jsonable(stats.median_bootstrap(finals)),
        "final_minus_ppo": stats.jsonable(stats.paired_t(finals, base_finals)),
        "seconds_to_target": stats.jsonable(
            stats.median_bootstrap([x["seconds_to_target"] for x in per_seed.values()])
        ),
    }


def _seconds_ratio(base: list[dict[str, Any]], arm: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The base's median ``key`` over the arm's, paired seed bootstrap, as JSON."""
    ratio = stats.median_ratio_bootstrap([b[key] for b in base], [a[key] for a in arm], paired=True)
    result: dict[str, Any] = stats.jsonable(ratio)
    return result


def wallclock_vs_base(arms: Mapping[str, dict[str, Any]], base: Mapping[str, dict[str, Any]]) -> None:
    """Add each arm's (:func:`arm_against_base`) wall-clock speed-up to the target over the base's per-seed
    records ``base``: the base's median seconds over the arm's on their common seeds, so that a faster
    learner that computes more per step is read in the unit a user pays."""
    for arm in arms.values():
        common = [s for s in arm["seeds"] if s in base]
        seeds = [arm["seeds"][s] for s in common]
        arm["wallclock_speedup"] = _seconds_ratio([base[s] for s in common], seeds, "seconds_to_target")


def tuned_vs_tuned(base: Mapping[str, dict[str, Any]], arm: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A tuned arm against the tuned base arm (their per-seed records, :func:`arm_against_base`) on their
    common seeds: the base's median steps to the target over the arm's, the same in seconds to the
    target and in seconds per run (throughput), and the paired (t) final difference."""
    common = sorted(set(arm) & set(base), key=int)
    b, a = [base[s] for s in common], [arm[s] for s in common]
    steps = stats.median_ratio_bootstrap([x["steps"] for x in b], [x["steps"] for x in a], paired=True)
    return {
        "seeds": common,
        "speedup": stats.jsonable(steps),
        "wallclock_speedup": _seconds_ratio(b, a, "seconds_to_target"),
        "throughput": _seconds_ratio(b, a, "wall_seconds"),
        "final_minus_tuned_ppo": stats.jsonable(
            stats.paired_t([x["final"] for x in a], [x["final"] for x in b])
        ),
    }
