"""Reading HPO methods' per-run summaries side by side (:mod:`rlcv.hpo.runners`' summaries, one per
method and inner seed): each method's test accuracy and validation loss per seed, the grid point with
the lowest mean validation loss, one default run's cost in each unit, and the paired comparisons
`rlcv bench hpo-budget` and `rlcv bench dualcutout` report.

Every method runs on the same inner seeds, so two methods are compared through the per-seed differences
d_s = a_s − b_s (:func:`rlcv.stats.paired_t`: mean and 95 % Student-t interval; one pair: no interval).
"a beats b" needs the interval to exclude 0 on a's side (:func:`outcome`); when it includes 0 the
difference is not resolved, and the interval is named instead of a winner.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.hpo.cosine_methods import ONLINE_COSINE
from rlcv.hpo.runners import ANYTIME_COLUMNS, UNITS
from rlcv.stats import Interval, paired_t

WORST_VAL = 1e3  # a diverged run's validation loss (inf or NaN) counts as this finite worst
Results = dict[str, dict[int, dict[str, Any]]]  # method → inner seed → per-run summary
CONTROLLERS = ("hpo-ucb1", "hpo-dts", "hpo-hd", "hpo-forward", "hpo-ucb1-joint", "hpo-ts")
# Methods that tune within one run; the best of them (by validation loss) is the one compared.
ONLINE = (*CONTROLLERS, "ppo", *ONLINE_COSINE)
BASELINES = ("random-2", "tpe-2", "sh-2")  # equal-budget baselines the best online method must beat
HPARAMS = ("lr", "batch_size", "weight_decay")


def finite(v: float) -> float:
    """A validation loss, a diverged run's (inf or NaN) as :data:`WORST_VAL`."""
    return v if math.isfinite(v) else WORST_VAL


def acc(results: Results, m: str, seeds: list[int]) -> list[float]:
    """Test accuracy of method ``m`` per seed."""
    return [results[m][s]["test_accuracy"] for s in seeds]


def val(results: Results, m: str, seeds: list[int]) -> list[float]:
    """Final validation loss of method ``m`` per seed, a diverged run's as :data:`WORST_VAL`."""
    return [finite(results[m][s]["val_loss"]) for s in seeds]


def read_results(folder: Path, methods: list[str], seeds: list[int]) -> tuple[Results, list[int]]:
    """``folder/<method>_s<seed>.json`` of each method and seed that has one, and the seeds every
    method has (the paired seeds)."""
    res: Results = {m: {} for m in methods}
    for m in methods:
        for s in seeds:
            path = folder / f"{m}_s{s}.json"
            if path.is_file():
                res[m][s] = json.loads(path.read_text())
    return res, [s for s in seeds if all(s in res[m] for m in methods)]


def read_methods(folder: Path, names: list[str], seeds: list[int], trials: int) -> tuple[Results, list[int]]:
    """:func:`read_results` of the methods ``names`` (a grid point, e.g. ``fixed-lr0.1``, is a method),
    over the paired seeds and in the order a seed-major sweep first wrote them (the rows' order); a
    search (``random`` / ``tpe``) is read as its first 2 trials and as all ``trials`` (``random-2``,
    ``random-20``: one study, common random numbers)."""
    from rlcv.hpo.runners import first_k

    raw, paired = read_results(folder, names, seeds)
    results: Results = {}
    for m in sorted((m for m in names if raw[m]), key=lambda m: (min(raw[m]), names.index(m))):
        for k in sorted({2, trials}) if m in ("random", "tpe") else [0]:
            results[f"{m}-{k}" if k else m] = {s: first_k(raw[m][s], k) if k else raw[m][s] for s in paired}
    return results, paired


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


def outcome(iv: Interval, higher_is_better: bool) -> str:
    """'better' / 'worse' (for a) when the interval of a − b excludes 0, else 'unresolved' (no interval
    included)."""
    if not iv.excludes(0.0):
        return "unresolved"
    return "better" if (iv.low > 0) == higher_is_better else "worse"


def compare(a: list[float], b: list[float], higher_is_better: bool) -> dict[str, Any]:
    """May one say "a ≥ b"? The paired interval of a − b, its :func:`outcome`, and whether it claims a
    is better (only when the interval lies on a's side of 0)."""
    ci = paired_t(a, b)
    result = outcome(ci, higher_is_better)
    return {"ci": ci, "outcome": result, "claims_tuned_ge_fixed": result == "better"}


def method_row(
    results: Results, m: str, seeds: list[int], units: dict[int, dict[str, float]], ref: str | None
) -> dict[str, Any]:
    """One method's means over seeds, its compute in runs (``units``: one run's worth per seed) and,
    with a reference method, its paired differences to it."""
    per_seed = results[m]
    a, v = acc(results, m, seeds), val(results, m, seeds)
    row: dict[str, Any] = {
        "method": m,
        "test_accuracy": statistics.fmean(a),
        "val_loss": statistics.fmean(v),
        "runs": {u: statistics.fmean(per_seed[s]["cost"][u] / units[s][u] for s in seeds) for u in UNITS},
        "wall_s": statistics.fmean(per_seed[s]["cost"]["wall_s"] for s in seeds),
        "online": m in ONLINE,
        # geometric means over seeds of the reported configuration's final hyper-parameters
        "final_hparams": {
            h: math.exp(statistics.fmean(math.log(per_seed[s]["hparams"][h]) for s in seeds))
            for h in HPARAMS
            if all(h in per_seed[s]["hparams"] for s in seeds)
        },
    }
    if ref:
        row["acc_vs_ref"] = paired_t(a, acc(results, ref, seeds))
        row["val_vs_ref"] = paired_t(v, val(results, ref, seeds))
    return row


def online_verdicts(
    results: Results, seeds: list[int], rows: list[dict[str, Any]], ref: str | None
) -> dict[str, Any]:
    """The best online method (by mean validation loss, never by test accuracy): its compute in runs,
    whether it reaches ``ref``'s test accuracy, and its paired differences to each of :data:`BASELINES`
    and to the best fixed / cosine grid point (``fixed-best`` / ``cosine-best``) that ran."""
    online = [r for r in rows if r["online"]]
    if not online:
        return {}
    best = min(online, key=lambda r: r["val_loss"])
    name = best["method"]
    a, v = acc(results, name, seeds), val(results, name, seeds)
    verdicts: dict[str, Any] = {"best_online": name, "cost_ratio": best["runs"]}
    if ref:
        ci = paired_t(a, acc(results, ref, seeds))
        verdicts["reaches_tpe20"] = {"ci": ci, "met": bool(ci.n and ci.high >= 0)}
    for b in BASELINES:
        if b in results:
            ci, civ = paired_t(a, acc(results, b, seeds)), paired_t(v, val(results, b, seeds))
            verdicts[f"vs_{b}"] = {
                "acc": ci,
                "val": civ,
                "acc_outcome": outcome(ci, True),
                "val_outcome": outcome(civ, False),
            }
    for f in ("fixed-best", "cosine-best"):
        if f in results:
            verdicts[f"vs_{f}"] = {
                "acc": compare(a, acc(results, f, seeds), higher_is_better=True),
                "val": compare(v, val(results, f, seeds), higher_is_better=False),
            }
    return verdicts


def analyse(results: Results, seeds: list[int], trials: int = 20) -> dict[str, Any]:
    """Every method's row (paired to TPE with ``trials`` trials where it ran) and the best online
    method's verdicts; ``results`` gains ``fixed-best`` / ``cosine-best``, the grid points
    :func:`best_grid_point` picks."""
    units = unit_run(results, seeds)
    for prefix in ("fixed", "cosine"):
        best_fixed = best_grid_point(results, prefix)
        if best_fixed is not None:
            results[f"{prefix}-best"] = results[best_fixed]
    ref = f"tpe-{trials}" if f"tpe-{trials}" in results else None
    rows = [method_row(results, m, seeds, units, ref) for m in results]
    verdicts = online_verdicts(results, seeds, rows, ref)
    return {"rows": rows, "verdicts": verdicts, "unit_run": units, "reference": ref}


def fixed_grid(results: Results, seeds: list[int]) -> list[tuple[str, list[float]]]:
    """Per-seed test accuracy % of each fixed-grid learning rate, by learning rate."""
    fixed = sorted((m for m in results if m.startswith("fixed-lr")), key=lambda m: float(m[8:]))
    return [(m[8:], [100 * results[m][s]["test_accuracy"] for s in seeds]) for m in fixed]


def meta_cost(meta: dict[str, Any], units: dict[int, dict[str, float]], seeds: list[int]) -> dict[str, Any]:
    """What meta-training `ppo` cost, in runs amortised over the evaluation seeds, and the mean final
    validation loss of its first / last 10 inner runs."""
    mean_unit = {u: statistics.fmean(units[s][u] for s in seeds) for u in UNITS}
    return {
        "meta": meta,
        "runs": {u: meta["cost"][u] / mean_unit[u] for u in UNITS},
        "first10": statistics.fmean(meta["val_loss"][:10]),
        "last10": statistics.fmean(meta["val_loss"][-10:]),
    }


def meta_tasks(meta: dict[str, Any]) -> dict[str, Any]:
    """``ppo-x``'s meta-training tasks and, per task, its inner runs and the mean final validation loss
    of the first / last 10."""

    def name(spec: dict[str, str]) -> str:  # meta.json written before the rename says 'model'
        return f"{spec['task']} {spec.get('network', spec.get('model'))}"

    per_task = []
    for i, spec in enumerate(meta["meta_tasks"]):
        vals = [v for v, t in zip(meta["val_loss"], meta["task_per_episode"], strict=True) if t == i]
        if vals:
            first, last = statistics.fmean(vals[:10]), statistics.fmean(vals[-10:])
            per_task.append({"name": name(spec), "n": len(vals), "first": first, "last": last})
    return {"meta": meta, "tasks": [name(t) for t in meta["meta_tasks"]], "per_task": per_task}


def anytime(curves: list[Any], units: list[float], unit: str) -> dict[str, Any]:
    """One method's anytime reading against cost ``unit`` in runs (``units``: one run's worth per seed,
    ``curves``: its runs' :data:`~rlcv.hpo.runners.ANYTIME_COLUMNS` rows): on a log grid of 0.01 to 25
    runs, the median over seeds of the best validation loss so far (NaN before a seed's first point), and
    the mean over seeds of the incumbent's test accuracy at each point where every seed knows it (by
    index; ``xs`` None where none does)."""
    grid = np.logspace(-2, math.log10(25), 120)
    cols = ANYTIME_COLUMNS.index(unit), ANYTIME_COLUMNS.index("best_val_loss")
    vals, known = [], []
    for curve, one_run in zip(curves, units, strict=True):
        c = np.asarray(curve, dtype=float)
        x, a = c[:, cols[0]] / one_run, c[:, ANYTIME_COLUMNS.index("test_accuracy")]
        idx = np.searchsorted(x, grid, side="right") - 1
        vals.append(np.where(idx >= 0, c[np.clip(idx, 0, None), cols[1]], np.nan))
        known.append((x[np.isfinite(a)], a[np.isfinite(a)]))
    n = min(len(k[0]) for k in known)
    xs = np.mean([k[0][:n] for k in known], 0) if n else None
    ys = np.mean([k[1][:n] for k in known], 0) if n else None
    return {"grid": grid, "best_val": np.median(np.asarray(vals), 0), "xs": xs, "accuracy": ys}


# `rlcv bench dualcutout`'s comparisons: test error of the regulariser arms, in the paper's pairs.
PAIRS = (("dualcutout", "cutout"), ("cutout", "none"), ("dualcutout", "none"), ("ctrl-dual", "ctrl-none"))


def arm_rows(results: Results, arms: list[str], seeds: list[int]) -> list[dict[str, Any]]:
    """Each arm's means over seeds (test error in %), its compute in runs of the first arm."""
    base = results[arms[0]]

    def mean(a: str, key: str) -> float:
        return statistics.fmean(results[a][s][key] for s in seeds)

    def runs(a: str, unit: str) -> float:
        return statistics.fmean(results[a][s]["cost"][unit] / base[s]["cost"][unit] for s in seeds)

    return [
        {
            "arm": a,
            "error": statistics.fmean(100 * (1 - results[a][s]["test_accuracy"]) for s in seeds),
            "test_loss": mean(a, "test_loss"),
            "val_loss": mean(a, "val_loss"),
            "grads": runs(a, "example_grads"),
            "wall": runs(a, "compute_s"),
        }
        for a in arms
    ]


def error_pairs(results: Results, arms: list[str], seeds: list[int]) -> tuple[dict[str, Any], Any]:
    """The paired differences of test error (points) of each of :data:`PAIRS` that ran, as
    {"x − y": {"paired_t", "outcome"}}; and, where the three fixed arms ran, their mean errors and
    whether the paper's order (dual < single < none, dual − single resolved) is reproduced (else None)."""
    err = {a: [100 * (1 - results[a][s]["test_accuracy"]) for s in seeds] for a in arms}
    pairs = {}
    for x, y in PAIRS:
        if x in err and y in err:
            ci = paired_t(err[x], err[y])
            pairs[f"{x} − {y}"] = {"paired_t": ci, "outcome": outcome(ci, higher_is_better=False)}
    if not all(a in err for a in ("none", "cutout", "dualcutout")):
        return pairs, None
    m = {a: statistics.fmean(err[a]) for a in ("none", "cutout", "dualcutout")}
    resolved = pairs.get("dualcutout − cutout", {}).get("outcome") == "better"
    return pairs, {**m, "reproduced": bool(m["dualcutout"] < m["cutout"] < m["none"] and resolved)}
