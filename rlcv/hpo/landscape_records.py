"""How the landscape benches' run records are named and grouped: read by `rlcv bench walk` /
`rlcv bench sharpness` for their tables and by the report layer for their figures (a light module, no
torch: building the CLI parser imports every bench)."""

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
