"""`rlcv bench bgan-capacity`: can BGAN's generator network represent the 40-component Bernoulli mixture
that beats it? The network of `results/bgan.md` is distilled from the mixture (:mod:`rlcv.gan.distil`)
for each assignment variant in :data:`VARIANTS`, as in-process runs of :func:`rlcv.bench.runs.run_tasks`
kept in ``OUT/bgan_capacity/VARIANT.json`` (a rerun skips the finished ones; delete them to redo). The
page ``OUT/bgan_capacity.md`` (template ``bgan_capacity.md.j2``) compares them with the mixture and BGAN
rows of `rlcv bench bgan`'s ``OUT/bgan.json``; ``--report-only`` rebuilds it without training.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path
from typing import Any

from rlcv.bench.bgan import starred
from rlcv.bench.checks import out_dir, require_report_input
from rlcv.bench.report import render
from rlcv.errors import RlcvError
from rlcv.gan.rows import seeded
from rlcv.stats import mean_t, paired_t

SEEDS = (0, 1, 2, 3, 4)  # the benchmark's seeds; seed s also seeds the mixture it distils (as the bench's)
K = 40  # the bench's likelihood-chosen K (results/bgan.md)
CHECKPOINTS = (300, 600, 1200, 2400)  # Adam steps at which the distilled generator is scored
KEYS = ("c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share", "unique_fraction")
# name → (assignment, seeds, checkpoints): both assignments over the bench's seeds and BGAN's budget,
# and the linear one for 5× longer on one seed (does the distillation reach the mixture at all?).
VARIANTS: dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]] = {
    "quantile": ("quantile", SEEDS, CHECKPOINTS),
    "linear": ("linear", SEEDS, CHECKPOINTS),
    "linear-long": ("linear", (0,), (2400, 4800, 7200, 12000)),
}


def distil_variant(variant: str) -> dict[str, Any]:
    """Every seed of one variant (a task of :func:`rlcv.bench.runs.run_tasks`: module level, pickles)."""
    from rlcv.gan.distil import distil

    assignment, seeds, checkpoints = VARIANTS[variant]
    return {
        "k": K,
        "checkpoints": list(checkpoints),
        "runs": [distil(s, assignment, checkpoints, K) for s in seeds],
    }


def variant_runs(out: Path, report_only: bool) -> dict[str, list[dict[str, Any]]]:
    """Each variant's distillations: the stored ones (checked against :data:`VARIANTS`), the others run."""
    from rlcv.bench.runs import ResultStore, Task, run_tasks

    store = ResultStore(out / "bgan_capacity")
    stored = run_tasks(
        store, [Task(v, {}, partial(distil_variant, v)) for v in VARIANTS], report_only=report_only
    )
    for variant, (_, seeds, checkpoints) in VARIANTS.items():
        saved = stored[variant]
        if saved["checkpoints"] != list(checkpoints) or [r["seed"] for r in saved["runs"]] != list(seeds):
            raise RlcvError(
                f"{store.path(variant)} holds other seeds / checkpoints than {variant}'s "
                f"({list(seeds)}, {list(checkpoints)}); delete it to redo it."
            )
    return {v: stored[v]["runs"] for v in VARIANTS}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bgan-capacity", help="BGAN's generator network distilled from the mixture reference")
    p.add_argument("--out", type=out_dir, default="results", help="folder of bgan.json and of the page")
    p.add_argument("--report-only", action="store_true", help="rebuild the page from the saved distillations")
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    require_report_input(out / "bgan.json", "bgan")
    runs = variant_runs(out, args.report_only)
    bench = json.loads((out / "bgan.json").read_text())
    mixture = {s: r["final"] for s, r in seeded(bench["references"]["rows"]["mixture"]).items()}
    bgan = {r["seed"]: r["final"] for r in bench["runs"] if r["algo"] == "bgan"}
    text = render(
        "bgan_capacity.md.j2", variants=VARIANTS, runs=runs, keys=KEYS, seeds=SEEDS, mixture=mixture,
        cell=lambda values: mean_t(values).fmt(".3f"), paired_cell=lambda a, b: starred(paired_t(a, b)),
        bgan=bgan, pick=lambda by_seed, seeds, key: [by_seed[s][key] for s in seeds],
    )  # fmt: skip
    (out / "bgan_capacity.md").write_text(text)
    print(f"wrote {out / 'bgan_capacity.md'}")
    return 0
