"""Does SGD's noise scale η/S decide how sharp a minimum it finds ("Three Factors Influencing Minima in
SGD", Jastrzębski et al., arXiv 1711.04623)? The readings of a sweep of sharpness runs
(:func:`rlcv.hpo.landscape_runs.sharp_run`), at one of their snapshots (a matched training loss or a
fixed budget, :data:`rlcv.hpo.landscape_records.SNAPSHOT_PROTOCOLS`): per-setting seed means, the rank
correlation of η/S with λ_max or test accuracy, how far settings of the same η/S agree, and lr decay
against batch growth; each read against the issue's :data:`TARGETS` (`rlcv bench sharpness`'s page).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from rlcv.hpo.landscape_records import SNAPSHOT_PROTOCOLS, finite_mean


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


# The targets, read at each protocol (:func:`protocol_verdicts`) and for the schedules.
TARGETS = {
    "rho_lambda": -0.8,  # Spearman(η/S, λ_max) ≤ −0.8 in both sweeps
    "rho_acc": 0.7,  # Spearman(η/S, test accuracy) ≥ 0.7, both sweeps pooled
    "same_lambda": 0.25,  # λ_max within ±25 % across S at the same η/S
    "same_acc": 0.015,  # test accuracy within 1.5 points across S at the same η/S
    "ratio_10x": 2.0,  # a 10× ratio change moves λ_max by ≥ 2×
    "schedule_acc": 0.015,  # lr_decay vs batch_growth: test accuracy within 1.5 points
    "schedule_lambda": 0.30,  # and λ_max within ±30 %
}
Sweeps = dict[str, list[list[dict[str, Any]]]]  # sweep ("eta", "batch", "ratio") → settings → seeds' runs


def same_ratio_verdicts(table: list[dict[str, Any]]) -> dict[str, Any]:
    """Groups of settings with the same η/S (:func:`same_ratio_groups`) against their targets (λ_max
    deviation and accuracy spread), and how far λ_max moves from the largest ratio to the smallest."""
    same = same_ratio_groups(table)
    tv: dict[str, Any] = {"same_ratio": same}
    tv["same_ratio_met"] = bool(
        all(
            g["lambda_dev"] <= TARGETS["same_lambda"] and g["acc_spread"] <= TARGETS["same_acc"] for g in same
        )
    )
    if len(same) >= 2:
        hi, lo = finite_mean(same[0]["lambda"]), finite_mean(same[-1]["lambda"])
        tv["ratio_10x_lambda_factor"] = lo / hi
        tv["ratio_10x_met"] = bool(lo / hi >= TARGETS["ratio_10x"])
    return tv


def protocol_verdicts(sweeps: Sweeps, protocol: str, seeds: int) -> dict[str, Any]:
    """One task's rank correlations under one protocol (of the seed means, and of each seed's runs in the
    η and S sweeps) and the targets read off them."""
    tv: dict[str, Any] = {}
    for sweep in ("eta", "batch"):
        if sweep not in sweeps:
            continue
        table = sweep_table(sweeps[sweep], protocol)
        tv[f"{sweep}_rho_lambda"] = ratio_rho(table, "lambda_max")
        tv[f"{sweep}_rho_lambda_per_seed"] = [ratio_rho(table, "lambda_max", s) for s in range(seeds)]
        tv[f"{sweep}_rho_acc"] = ratio_rho(table, "test_accuracy")
    both = sweep_table(sweeps["eta"], protocol) + sweep_table(sweeps["batch"], protocol)
    tv["pooled_rho_acc"] = ratio_rho(both, "test_accuracy")
    tv["lambda_met"] = bool(max(tv["eta_rho_lambda"], tv["batch_rho_lambda"]) <= TARGETS["rho_lambda"])
    tv["acc_met"] = bool(tv["pooled_rho_acc"] >= TARGETS["rho_acc"])
    if "ratio" in sweeps:
        tv.update(same_ratio_verdicts(sweep_table(sweeps["ratio"], protocol)))
    return tv


def schedule_verdicts(sched: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """lr decay vs batch growth (:func:`rlcv.hpo.landscape_runs.schedule_run`'s modes): each mode's seed
    means, and per growth mode the paired accuracy differences (lr decay − growth; mean and 95 %
    t-interval in points), the accuracy gap, the λ_max ratio and the target read off them."""
    from rlcv.stats import mean_t

    def means(key: str) -> dict[str, float]:
        return {m: finite_mean([r[key] for r in runs]) for m, runs in sched.items()}

    acc, lam = means("test_accuracy"), means("lambda_max")
    out: dict[str, Any] = {"accuracy": acc, "lambda_max": lam, "examples": means("examples")}
    out["sgd_steps"] = means("sgd_steps")
    for growth in ("batch_growth", "batch_growth_equal_examples"):
        if growth not in sched:
            continue
        paired = [
            a["test_accuracy"] - b["test_accuracy"]
            for a, b in zip(sched["lr_decay"], sched[growth], strict=True)
        ]
        gap, ratio = abs(acc["lr_decay"] - acc[growth]), lam[growth] / lam["lr_decay"]
        out[growth] = {
            "paired_acc_diff": paired,
            "paired_acc_ci": [100 * x for x in mean_t(paired).as_tuple()],
            "acc_gap": gap,
            "lambda_ratio": ratio,
            "met": bool(gap <= TARGETS["schedule_acc"] and abs(ratio - 1) <= TARGETS["schedule_lambda"]),
        }
    return out


def verdicts(sweeps: dict[str, Sweeps], schedules: dict[str, Any], seeds: int) -> dict[str, Any]:
    """Every task's :func:`protocol_verdicts` under each protocol (``"<task>_<protocol>"``) and, where
    the schedules ran, their :func:`schedule_verdicts`."""
    v: dict[str, Any] = {}
    for task, task_sweeps in sweeps.items():
        for protocol in SNAPSHOT_PROTOCOLS:
            v[f"{task}_{protocol}"] = protocol_verdicts(task_sweeps, protocol, seeds)
    if schedules:
        v["schedule"] = schedule_verdicts(schedules)
    return v


def epoch_extremes(sweeps: Sweeps) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The matched-loss settings (η and S sweeps) that got there in the fewest epochs, and the noisiest."""
    rows = [
        r for sw in ("eta", "batch") for r in sweep_table(sweeps[sw], "matched") if math.isfinite(r["epochs"])
    ]
    if not rows:
        return None, None
    return min(rows, key=lambda r: r["epochs"]), max(rows, key=lambda r: r["ratio"])


def tables(sweeps: dict[str, Sweeps], v: dict[str, Any]) -> list[dict[str, Any]]:
    """One table per task and protocol: every setting's :func:`sweep_table` row, and its verdicts."""
    return [
        {
            "task": t,
            "protocol": protocol,
            "rows": [
                {"sweep": sw, **row}
                for sw, rows in task_sweeps.items()
                for row in sweep_table(rows, protocol)
            ],
            "tv": v.get(f"{t}_{protocol}", {}),
        }
        for t, task_sweeps in sweeps.items()
        for protocol in SNAPSHOT_PROTOCOLS
    ]
