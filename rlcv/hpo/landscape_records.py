"""How the landscape benches' run records are named, grouped and read: by `rlcv bench walk` /
`rlcv bench sharpness` for their tables (and the walk's targets, :func:`walk_verdicts`) and by the report
layer for their figures (a light module, no torch: building the CLI parser imports every bench)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# The two points of a sharpness run at which λ_max and test accuracy are read: at a matched training
# loss, and at a fixed budget of steps (the snapshots of rlcv.hpo.landscape_runs.sharp_run).
SNAPSHOT_PROTOCOLS = ("matched", "fixed")


def group_runs(results: dict[str, dict[str, Any]], prefix: str) -> dict[float, list[dict[str, Any]]]:
    """The runs whose name starts with ``prefix``, by setting (the batch size for ``dist_``, else the
    learning rate), settings in increasing order."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for name, r in results.items():
        if name.startswith(prefix):
            key = float(r["batch_size"]) if prefix == "dist_" else float(r["lr"])
            groups.setdefault(key, []).append(r)
    return dict(sorted(groups.items()))


def finite_mean(xs: list[float]) -> float:
    """The mean of the finite values (NaN if none): a diverged run's NaN does not hide the others."""
    finite = [x for x in xs if math.isfinite(x)]
    return float(np.mean(finite)) if finite else math.nan


def uphill_fraction(run: dict[str, Any]) -> float:
    """Fraction of a walk run's measured steps with α* = 0: the loss rose from the very start of the
    step (NaN without measured steps)."""
    hist = run.get("alpha_star_hist", {})
    total = sum(hist.values())
    return hist.get("0", 0) / total if total else math.nan


def walk_setting(label: str, lr: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Seed means of one GD / SGD / isotropic-noise setting of `rlcv bench walk`
    (:func:`rlcv.hpo.landscape_runs.walk_run`'s records): how often the floor of the step's loss line lies
    strictly inside it, convex fraction, height above the floor, uphill fraction, the last λ_max, final
    train loss, test accuracy, distance from init; and how many of its runs diverged."""
    keys = ("inside_fraction", "convex_fraction", "height_mean", "train_loss", "test_accuracy", "dist_init")
    row = {k: finite_mean([r[k] for r in runs]) for k in keys}
    return {
        "label": label,
        "lr": lr,
        "inside": row["inside_fraction"],
        "convex": row["convex_fraction"],
        "height": row["height_mean"],
        "uphill": finite_mean([uphill_fraction(r) for r in runs]),
        "lambda_max": finite_mean([r["lambda"][-1][1] for r in runs if r["lambda"]]),
        "diverged": sum(r["diverged"] for r in runs),
        "runs": len(runs),
        **{k: row[k] for k in ("train_loss", "test_accuracy", "dist_init")},
    }


# `rlcv bench walk`'s targets, read in :func:`walk_verdicts`.
WALK_TARGETS: dict[str, Any] = {
    "gd_inside_max": 0.05,  # full-batch GD: floor strictly inside in ≤ 5 % of steps
    "sgd_inside_min": {1.0: 0.25, 10.0: 0.50},  # SGD batch 32: ≥ 25 % at lr 1, ≥ 50 % at lr 10
    "height_rho_min": 0.8,  # Spearman(η, mean height) ≥ 0.8
    "distance_rho_max": -0.9,  # Spearman(S, ‖θ_T − θ_0‖) ≤ −0.9
    "overhead_max": 0.30,  # landscape observations add ≤ 30 % wall-clock to an episode
}


def _inside(groups: dict[float, list[dict[str, Any]]]) -> dict[float, list[float]]:
    return {lr: [r["inside_fraction"] for r in runs] for lr, runs in groups.items()}


def walk_verdicts(
    results: dict[str, dict[str, Any]], overhead: list[dict[str, Any]], seeds: int
) -> dict[str, Any]:
    """`rlcv bench walk`'s readings of its runs (by name: ``gd_`` / ``sgd_`` / ``iso_`` / ``dist_``) and of
    the landscape-observation overhead rows, each against :data:`WALK_TARGETS`: how often the floor lies
    inside a step (GD, SGD, isotropic noise), the rank correlation of η with the mean height (settings
    that never diverged; of the seed means and per seed) and of S with the distance from init (per seed)."""
    from rlcv.hpo.sgd_paths import spearman

    t = WALK_TARGETS
    gd, sgd, dist = group_runs(results, "gd_"), group_runs(results, "sgd_"), group_runs(results, "dist_")
    v: dict[str, Any] = {"gd_inside": _inside(gd)}
    v["gd_met"] = all(
        x <= t["gd_inside_max"] for xs in v["gd_inside"].values() for x in xs if math.isfinite(x)
    )
    v["sgd_inside"] = _inside(sgd)
    v["sgd_diverged"] = {lr: sum(r["diverged"] for r in runs) for lr, runs in sgd.items()}
    v["sgd_met"] = {
        lr: bool(lr in sgd and v["sgd_diverged"][lr] == 0 and all(x >= need for x in v["sgd_inside"][lr]))
        for lr, need in t["sgd_inside_min"].items()
    }
    ok = [lr for lr, runs in sgd.items() if not any(r["diverged"] for r in runs)]
    heights = [finite_mean([r["height_mean"] for r in sgd[lr]]) for lr in ok]
    v["height_lrs"], v["height_means"] = ok, heights
    v["height_rho"] = spearman(ok, heights) if len(ok) >= 3 else math.nan
    v["height_rho_per_seed"] = [
        spearman(ok, [sgd[lr][s]["height_mean"] for lr in ok]) if len(ok) >= 3 else math.nan
        for s in range(seeds)
    ]
    v["height_met"] = bool(
        math.isfinite(v["height_rho"]) and min(v["height_rho_per_seed"]) >= t["height_rho_min"]
    )
    sizes = list(dist)
    v["distance_sizes"] = sizes
    v["distance_means"] = [finite_mean([r["dist_init"] for r in dist[s]]) for s in sizes]
    v["distance_rho_per_seed"] = [
        spearman(sizes, [dist[s][i]["dist_init"] for s in sizes]) for i in range(seeds)
    ]
    v["distance_met"] = bool(max(v["distance_rho_per_seed"]) <= t["distance_rho_max"])
    v["iso_inside"] = _inside(group_runs(results, "iso_"))
    v["overhead_met"] = {
        f"{r['setting']} every {r['landscape_every']}": r["overhead_median"] <= t["overhead_max"]
        for r in overhead
    }
    return v


def walk_tables(results: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """`rlcv bench walk`'s two tables: ``settings``, :func:`walk_setting` of each GD / SGD / isotropic
    setting; ``distance``, per batch size of the distance runs their steps and the seed means of the
    distance from init, final training loss and test accuracy."""
    groups = (("GD", "gd_"), ("SGD b32", "sgd_"), ("isotropic b32", "iso_"))
    keys = ("dist_init", "train_loss", "test_accuracy")
    return {
        "settings": [
            walk_setting(label, lr, runs)
            for label, pre in groups
            for lr, runs in group_runs(results, pre).items()
        ],
        "distance": [
            {"batch": s, "steps": runs[0]["steps"], **{k: finite_mean([r[k] for r in runs]) for k in keys}}
            for s, runs in group_runs(results, "dist_").items()
        ],
    }
