"""The benches' figures: the report layer draws them, as it renders the pages (:mod:`rlcv.bench.report`),
from the data a bench's page is made from, so a bench module holds its protocol. One public function
per bench; each writes its PNGs through :func:`rlcv.bench.report.figure` (matplotlib imported there
only). Figures are not compared byte for byte by the regeneration tests: their bytes depend on the
matplotlib / FreeType build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.report import figure

__all__ = [
    "walk_figures",
    "sharpness_figures",
    "variance_figure",
    "ceiling_figure",
    "ipg_fresh_figure",
]


# -- rlcv bench walk ------------------------------------------------------------------------------
def walk_figures(out: dict[str, Any], folder: Path) -> None:
    """`rlcv bench walk`'s walk_shapes / walk_height / walk_distance / walk_lambda.png."""
    res = out["results"]
    _walk_shapes(res, folder)
    _walk_height(res, folder)
    _walk_distance(out, folder)
    _walk_lambda(res, folder)


def _walk_groups(res: dict[str, dict[str, Any]], *prefixes: str) -> list[dict[float, list[dict[str, Any]]]]:
    from rlcv.hpo.landscape_records import (
        group_runs,  # the bench's grouping of its runs, as its tables use it
    )

    return [group_runs(res, p) for p in prefixes]


def _walk_shapes(res: dict[str, dict[str, Any]], folder: Path) -> None:
    """Loss along three steps of seed 0 per setting (top), where the floor lies over all steps (below)."""
    from rlcv.hpo.landscape import DEFAULT_ALPHAS

    gd, sgd, iso = _walk_groups(res, "gd_", "sgd_", "iso_")
    panels = (
        [(f"GD lr {lr:g}", runs) for lr, runs in gd.items()]
        + [(f"SGD lr {lr:g}", runs) for lr, runs in sgd.items() if lr in (1.0, 10.0)]
        + [(f"isotropic lr {lr:g}", runs) for lr, runs in iso.items()]
    )
    size = (3.2 * len(panels), 5.6)
    with figure(folder / "walk_shapes.png", 2, len(panels), figsize=size, squeeze=False) as (_, axes):
        for k, (title, runs) in enumerate(panels):
            ax = axes[0][k]
            for t, losses in sorted(runs[0].get("shapes", {}).items(), key=lambda kv: int(kv[0])):
                ls_ = np.asarray(losses) - losses[0]
                if np.all(np.isfinite(ls_)) and np.abs(ls_).max() > 0:
                    # Each curve scaled to its own largest change: the shape, not the size, is compared.
                    ax.plot(DEFAULT_ALPHAS, ls_ / np.abs(ls_).max(), marker=".", label=f"step {t}")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(f"{title} (seed 0)", fontsize=9)
            # Below: where the floor lies, over every measured step of every seed.
            counts = np.array(
                [sum(r["alpha_star_hist"].get(f"{a:g}", 0) for r in runs) for a in DEFAULT_ALPHAS]
            )
            axes[1][k].bar(DEFAULT_ALPHAS, counts / max(counts.sum(), 1), width=0.08)
            axes[1][k].set_xlabel("α* (position of the floor along the step)")
        axes[0][0].set_ylabel("[L(θ_t + α D_t) − L(θ_t)] / max |·|")
        axes[1][0].set_ylabel("fraction of steps")
        axes[0][-1].legend(fontsize=7)


def _walk_height(res: dict[str, dict[str, Any]], folder: Path) -> None:
    """Mean height and floor-inside fraction against the learning rate."""
    gd, sgd, iso = _walk_groups(res, "gd_", "sgd_", "iso_")
    with figure(folder / "walk_height.png", 1, 2, figsize=(9, 3.5)) as (_, axes):
        for lr, runs in sgd.items():
            for r in runs:
                if not r["diverged"]:
                    axes[0].scatter(lr, r["height_mean"], color="C0", s=12)
                axes[1].scatter(lr, r["inside_fraction"], color="C0", s=12)
        for lr, runs in gd.items():
            for r in runs:
                axes[0].scatter(lr, r["height_mean"], color="C1", marker="s", s=12)
                axes[1].scatter(lr, r["inside_fraction"], color="C1", marker="s", s=12)
        for lr, runs in iso.items():
            for r in runs:
                axes[1].scatter(lr, r["inside_fraction"], color="C2", marker="^", s=12)
        axes[0].set(xscale="log", yscale="log", xlabel="learning rate", ylabel="mean height L(θ_t) − floor")
        axes[1].set(xscale="log", xlabel="learning rate", ylabel="fraction of steps with floor inside")
        axes[1].scatter([], [], color="C0", label="SGD b32")
        axes[1].scatter([], [], color="C1", marker="s", label="GD")
        axes[1].scatter([], [], color="C2", marker="^", label="isotropic b32")
        axes[1].legend(fontsize=8)


def _walk_distance(out: dict[str, Any], folder: Path) -> None:
    (dist,) = _walk_groups(out["results"], "dist_")
    with figure(folder / "walk_distance.png", figsize=(4.5, 3.5)) as (_, ax):
        for s, runs in dist.items():
            ax.scatter([s] * len(runs), [r["dist_init"] for r in runs], color="C0", s=12)
        ax.set(
            xscale="log",
            xlabel="batch size S",
            ylabel="‖θ_T − θ_0‖",
            title=f"{out['spec']['epochs']:g} epochs, lr {out['spec']['distance_lr']:g}",
        )


def _walk_lambda(res: dict[str, dict[str, Any]], folder: Path) -> None:
    """λ_max along training (seed 0), GD's 2/η stability bound dotted."""
    gd, sgd = _walk_groups(res, "gd_", "sgd_")
    with figure(folder / "walk_lambda.png", figsize=(6, 4)) as (_, ax):
        for i, (lr, runs) in enumerate(gd.items()):
            lam = np.asarray(runs[0]["lambda"])
            ax.plot(lam[:, 0], lam[:, 1], color=f"C{i}", ls="-", label=f"GD lr {lr:g}")
            ax.axhline(2 / lr, color=f"C{i}", ls=":", lw=0.8)
        for j, (lr, runs) in enumerate(sgd.items()):
            lam = np.asarray(runs[0]["lambda"])
            if len(lam):
                ax.plot(lam[:, 0], lam[:, 1], color=f"C{len(gd) + j}", ls="--", label=f"SGD b32 lr {lr:g}")
        ax.set(
            yscale="log", xlabel="step", ylabel="λ_max (training loss)", title="seed 0; dotted: 2/η for GD"
        )
        ax.legend(fontsize=7)


# -- rlcv bench sharpness -------------------------------------------------------------------------
def sharpness_figures(out: dict[str, Any], folder: Path) -> None:
    """`rlcv bench sharpness`'s sharpness_grid.png and sharpness_curves.png."""
    task = out["spec"]["task"]
    sweeps = out["sweeps"][task]
    with figure(folder / "sharpness_grid.png", 2, 2, figsize=(10, 7), sharex=True) as (_, axes):
        _sharpness_grid(axes, task, sweeps)
    with figure(folder / "sharpness_curves.png", 1, 2, figsize=(10, 3.8), sharey=True) as (_, axes):
        _sharpness_curves(axes, sweeps, out["spec"]["target_loss"])


SHARPNESS_MARKERS = {
    "eta": ("o", "η sweep"),
    "batch": ("s", "S sweep"),
    "ratio": ("^", "same η/S, S ∈ {8, 32, 128}"),
}


def _sharpness_grid(axes: Any, task: str, sweeps: dict[str, Any]) -> None:
    """λ_max (top) and test accuracy (bottom) against η/S, one column per protocol."""
    from matplotlib.ticker import NullFormatter

    from rlcv.hpo.landscape_records import SNAPSHOT_PROTOCOLS as PROTOCOLS

    for j, protocol in enumerate(PROTOCOLS):
        for i, (sweep, rows) in enumerate(sweeps.items()):
            m, label = SHARPNESS_MARKERS[sweep]
            for runs in rows:
                for r in runs:
                    snap = r.get(protocol)
                    if snap:
                        axes[0][j].scatter(r["ratio"], snap["lambda_max"], marker=m, color=f"C{i}", s=14)
                        axes[1][j].scatter(
                            r["ratio"], 100 * snap["test_accuracy"], marker=m, color=f"C{i}", s=14
                        )
            axes[0][j].scatter([], [], marker=m, color=f"C{i}", label=label)
        axes[0][j].set(xscale="log", yscale="log", ylabel="λ_max", title=f"{task}: {protocol}")
        axes[1][j].set(xscale="log", xlabel="η / S", ylabel="test accuracy %")
        axes[1][j].xaxis.set_minor_formatter(NullFormatter())  # labels overlap otherwise
    axes[0][0].legend(fontsize=8)


def _sharpness_curves(axes: Any, sweeps: dict[str, Any], target_loss: float) -> None:
    """Training-loss curves of seed 0 in the η and S sweeps, the matched-loss target dotted."""
    for ax, sweep in zip(axes, ("eta", "batch"), strict=True):
        for runs in sweeps.get(sweep, []):
            curve = np.asarray(runs[0]["loss_curve"])
            if len(curve):
                ax.plot(curve[:, 0], curve[:, 1], label=f"η {runs[0]['lr']:g}, S {runs[0]['batch_size']}")
        ax.axhline(target_loss, color="grey", ls=":")
        ax.set(xscale="log", yscale="log", xlabel="epochs", title=f"{sweeps and sweep} sweep (seed 0)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("full-batch training loss")


# -- rlcv bench variance / variance-report -------------------------------------------------------
def variance_figure(result: dict[str, Any], out: Path) -> None:
    """tr Cov ratio (full and minibatch clipped, with CIs) and the cosine to the reference, against k."""
    with figure(out, 1, 2, figsize=(9, 3.4)) as (fig, axes):
        base = next(r for r in result["rows"] if r["k"] == 0)
        for mode in sorted({r["eta_mode"] for r in result["rows"]} - {"none"}):
            rows = [base] + sorted((r for r in result["rows"] if r["eta_mode"] == mode), key=lambda r: r["k"])
            ks = [r["k"] for r in rows]
            for key, style in (("trace_ratio", "o-"), ("trace_ratio_minibatch_clipped", "s:")):
                y = np.array([r[key] for r in rows])
                err = np.clip(np.abs(np.array([r["ci"][key] for r in rows]).T - y), 0, 1e6)
                axes[0].errorbar(
                    ks, y, yerr=err, fmt=style, capsize=2, label=f"η {mode} {key[12:] or 'full'}"
                )
            axes[1].plot(ks, [r["cos_to_reference"] for r in rows], "o-", label=f"η {mode}")
        axes[0].axhline(1 / 3, color="grey", ls="--", lw=0.8, label="target 1/3")
        axes[0].set(xlabel="k", ylabel="tr Cov / tr Cov(k=0)", yscale="log")
        axes[1].set(xlabel="k", ylabel="mean cosine to reference")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{result['env']} @ {result['step']} steps ({result['algo']} checkpoint)", fontsize=10)


def ceiling_figure(results: list[dict[str, Any]], out: Path) -> None:
    """Bars of the score-term variance left per CV row: the learned model against the perfect-model
    ceilings (D, D^λ), with their 95 % intervals — how much of the gap is the model's."""
    rows = [
        (
            f"{r['env'].removesuffix('-v5')} {r['step'] // 1000}k k={row['k']} λ={r.get('gae_lambda', '?')}",
            row,
        )
        for r in results
        if r.get("variant", "correct") == "correct"
        for row in r["rows"]
        if row["k"] > 0 and "ceiling_gamma" in row
    ]
    if not rows:
        return
    keys = [("cv_score_var_ratio", "learned model"), ("ceiling_gamma", "perfect model, D")]
    keys.append(("ceiling_lambda", "perfect model, D^λ"))
    y = np.arange(len(rows))
    with figure(out, 1, 1, figsize=(8, 0.32 * len(rows) + 1.4)) as (_, ax):
        for j, (key, label) in enumerate(keys):
            vals = np.array([row[key] for _, row in rows])
            err = np.clip(np.abs(np.array([row["ci"][key] for _, row in rows]).T - vals), 0, None)
            ax.barh(y + (j - 1) * 0.27, vals, height=0.27, xerr=err, capsize=1.5, label=label)
        ax.axvline(1 / 3, color="grey", ls="--", lw=0.8, label="target 1/3")
        ax.set_yticks(y, [label for label, _ in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="score-term variance left, Var(Â − ηD) / Var(Â)", xlim=(0, 1.05))
        ax.legend(fontsize=7, loc="lower right")


# -- rlcv bench ipg-fresh ------------------------------------------------------------------------
def ipg_fresh_figure(path: Path, records: dict[str, list[dict[str, Any]]]) -> None:
    """`rlcv bench ipg-fresh`'s CPU seconds per game, one column per size (``records`` by size key):
    solved games as dots, unsolved ones as crosses, a box over all of them."""
    keys = list(records)
    rng = np.random.default_rng(0)  # horizontal jitter only, fixed so the figure is reproducible
    with figure(path, figsize=(1.4 * len(keys) + 2, 3.6), dpi=120) as (_, ax):
        for x, key in enumerate(keys):
            recs = records[key]
            cpu = np.array([r["cpu_seconds"] for r in recs])
            ok = np.array([bool(r.get("solved")) for r in recs])
            jitter = x + rng.uniform(-0.18, 0.18, len(cpu))
            ax.scatter(jitter[ok], cpu[ok], s=9, alpha=0.6, color="tab:blue")
            ax.scatter(jitter[~ok], cpu[~ok], s=30, marker="x", color="tab:red")
            ax.boxplot([cpu], positions=[x], widths=0.5, showfliers=False)
        ax.set_yscale("log")
        ax.set_xticks(range(len(keys)), keys)
        ax.set(
            xlabel="size (players x items)",
            ylabel="CPU seconds per game",
            title="m-SGM on fresh knapsack games",
        )
