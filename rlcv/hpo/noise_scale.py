"""Does SGD's noise scale η/S decide how sharp a minimum it finds ("Three Factors Influencing Minima in
SGD", Jastrzębski et al., arXiv 1711.04623)? The readings of a sweep of sharpness runs
(:func:`rlcv.hpo.landscape_runs.sharp_run`), at one of their snapshots (a matched training loss or a
fixed budget, :data:`rlcv.hpo.landscape_records.SNAPSHOT_PROTOCOLS`): per-setting seed means, the rank
correlation of η/S with λ_max or test accuracy, and how far settings of the same η/S agree. Used by
`rlcv bench sharpness`, which sets the targets these are read against.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from rlcv.hpo.landscape_records import finite_mean


def snapshot_value(run: dict[str, Any], protocol: str, key: str) -> float:
    """``key`` of a run at its ``protocol`` snapshot (NaN where the run never reached it)."""
    snap = run.get(protocol)
    return float(snap[key]) if snap else math.nan


def sweep_table(rows: list[list[dict[str, Any]]], protocol: str) -> list[dict[str, Any]]:
    """One entry per setting (``rows``: its seeds' runs): η, S, η/S, how many seeds reached the
    snapshot or diverged, and seed means of λ_max, test accuracy, training loss, epochs and λ_min at it
    (NaN where no seed reached it), with λ_max and accuracy per seed."""
    out = []
    for runs in rows:
        r0 = runs[0]
        out.append(
            {
                "lr": r0["lr"],
                "batch_size": r0["batch_size"],
                "ratio": r0["ratio"],
                "reached": sum(protocol in r for r in runs),
                "seeds": len(runs),
                "diverged": sum(bool(r["diverged"]) for r in runs),
                **{
                    k: finite_mean([snapshot_value(r, protocol, k) for r in runs])
                    for k in ("lambda_max", "test_accuracy", "train_loss", "epochs", "lambda_min")
                },
                "lambda_per_seed": [snapshot_value(r, protocol, "lambda_max") for r in runs],
                "acc_per_seed": [snapshot_value(r, protocol, "test_accuracy") for r in runs],
            }
        )
    return out


def ratio_rho(table: list[dict[str, Any]], key: str, seed: int | None = None) -> float:
    """Spearman's ρ between η/S and ``key`` (``lambda_max`` or ``test_accuracy``) over a sweep table's
    settings — of the seed means, or of one ``seed`` — NaN with fewer than 3 finite settings."""
    from rlcv.hpo.sgd_paths import spearman

    pts = [
        (
            t["ratio"],
            t[key] if seed is None else t["lambda_per_seed" if key == "lambda_max" else "acc_per_seed"][seed],
        )
        for t in table
    ]
    pts = [(a, b) for a, b in pts if math.isfinite(b)]
    return spearman([a for a, _ in pts], [b for _, b in pts]) if len(pts) >= 3 else math.nan


def same_ratio_groups(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The settings grouped by η/S (largest first): their λ_max and accuracies, the largest relative
    deviation of λ_max from the group's median and the accuracy spread (max − min)."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for t in table:
        groups.setdefault(round(t["ratio"], 12), []).append(t)
    same: list[dict[str, Any]] = []
    for ratio, ts in sorted(groups.items(), reverse=True):
        lams = [t["lambda_max"] for t in ts]
        accs = [t["test_accuracy"] for t in ts]
        mid = statistics.median(lams)
        dev = max(abs(x / mid - 1) for x in lams) if all(math.isfinite(x) for x in lams) else math.nan
        spread = max(accs) - min(accs) if all(math.isfinite(x) for x in accs) else math.nan
        same.append({"ratio": ratio, "lambda": lams, "acc": accs, "lambda_dev": dev, "acc_spread": spread})
    return same
