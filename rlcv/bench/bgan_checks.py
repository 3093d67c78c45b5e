"""Pages read off `rlcv bench bgan` outputs, each its own command:

- ``bgan-schedule``: the table of a schedule pilot — a few one-seed `rlcv bench bgan --against train`
  runs, one ``--name`` per candidate (:data:`PILOTS`: ``binary``, ``cont``) — placed in the pilot's
  hand-written notes at their ``<!-- table -->`` line (template ``bgan_schedule.md.j2``); the ``cont``
  table also reads each run's final policy (not committed) for where the generator's mode sits
  (:func:`rlcv.gan.scoring.mode_range`).
- ``bgan-update-cost``: the three generators train ``--updates`` updates each (the bench's schedule:
  64 latents × M = 20, disc_batch_size 128, one thread), in the order bgan, reinforce, gumbel,
  ``--repeats`` times, so load drifts hit them alike (``OUT/bgan_update_cost.json``: seconds per
  update); the page compares them at equal compute (:func:`rlcv.gan.rows.equal_compute`).
- ``bgan-capacity``: can BGAN's generator network represent the 40-component mixture that beats it?
  The network is distilled from the mixture (:mod:`rlcv.gan.distil`) for each assignment of
  :data:`VARIANTS`, as in-process runs of :func:`rlcv.bench.runs.run_tasks` kept in
  ``OUT/bgan_capacity/VARIANT.json`` (a rerun skips the finished ones), and compared with the mixture
  and BGAN rows of ``OUT/bgan.json``.

``--report-only`` rebuilds each page from the committed JSONs without training or timing.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.bgan import starred
from rlcv.bench.checks import out_dir, positive_int, require_report_input
from rlcv.bench.report import render, saved_or_measured, write_page
from rlcv.bench.runs import ResultStore, RunJob, Task, run_tasks, train_or_fail
from rlcv.errors import RlcvError
from rlcv.gan.rows import cost_ratios, equal_compute, seeded
from rlcv.run_dir import RunDir
from rlcv.stats import mean_t, paired_t

ALGOS = ("bgan", "bgan-reinforce", "bgan-gumbel")
PLACEHOLDER = "<!-- table -->"


@dataclass(frozen=True)
class Pilot:
    out: str  # folder of the per-schedule JSONs
    names: tuple[str, ...]
    page: str
    notes: str


PILOTS = {
    "binary": Pilot(
        "results/bgan_schedule", ("A_lr1e-3_d5", "B_lr3e-4_d5", "C_lr1e-3_d10", "D_lr1e-3_n32"),
        "results/bgan_schedule.md", "results/bgan_schedule_notes.md",
    ),
    "cont": Pilot(
        "results/bgan-digitscont_schedule",
        ("A_logstd0", "B_logstd-2", "C_logstd-3", "D_squash_logstd0", "E_squash_logstd-2",
         "F_squash_logstd-3"),
        "results/bgan-digitscont_schedule.md", "results/bgan-digitscont_schedule_notes.md",
    ),
}  # fmt: skip
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


def _parser(sub: Any, name: str, run: Callable[[argparse.Namespace], int], about: str, rebuild: str) -> Any:
    p = sub.add_parser(name, help=about)
    p.add_argument("--report-only", action="store_true", help=rebuild)
    p.set_defaults(bench_run=run)
    return p


def register(sub: argparse._SubParsersAction) -> None:
    out = {"type": out_dir, "default": "results", "help": "folder of bgan.json and of the page"}
    about = "BGAN's generator network distilled from the mixture reference"
    p = _parser(sub, "bgan-capacity", run_capacity, about, "rebuild the page from the saved distillations")
    p.add_argument("--out", **out)
    about = "BGAN generators' cost per update, and equal-compute scores"
    p = _parser(sub, "bgan-update-cost", run_update_cost, about, "rebuild the page from the saved timings")
    p.add_argument("--out", **out)
    p.add_argument("--updates", type=positive_int, default=200, help="updates per timed run")
    p.add_argument("--repeats", type=positive_int, default=3, help="rounds of the three generators")
    about, rebuild = (
        "the table of a BGAN schedule pilot (its `bench bgan` outputs)",
        "accepted; the pilot's runs are `rlcv bench bgan` commands",
    )
    p = _parser(sub, "bgan-schedule", run_schedule, about, rebuild)
    p.add_argument("--pilot", choices=sorted(PILOTS), default="binary")


# ---------------------------------------------------------------------------- bgan-schedule
def render_schedule(
    pilot: str, notes: str, payloads: Mapping[str, Mapping[str, Any]], command: str,
    mode: Callable[[Path], tuple[float, float, float]] | None = None,
) -> str:  # fmt: skip
    """The notes with their ``<!-- table -->`` line replaced by the pilot's table, then the command;
    ``mode``: where a run's generator mode lies (``cont`` only; default :func:`mode_range`)."""
    from rlcv.gan.scoring import mode_range

    lines = notes.rstrip("\n").splitlines()
    if lines.count(PLACEHOLDER) != 1:
        raise RlcvError(f"the notes must hold the line {PLACEHOLDER} once")
    at, spec = lines.index(PLACEHOLDER), PILOTS[pilot]
    runs = [(name, payloads[name]["runs"][0], payloads[name]["overrides"]) for name in spec.names]
    return render(
        "bgan_schedule.md.j2", pilot=pilot, before=lines[:at], after=lines[at + 1 :], runs=runs, spec=spec,
        command=command, mode=lambda run_dir: (mode or mode_range)(Path(run_dir)),
    )  # fmt: skip


def run_schedule(args: argparse.Namespace) -> int:
    spec = PILOTS[args.pilot]
    for path in (Path(spec.notes), *(Path(spec.out) / f"{name}.json" for name in spec.names)):
        require_report_input(path, "bgan --against train")
    payloads = {name: json.loads((Path(spec.out) / f"{name}.json").read_text()) for name in spec.names}
    command = f"rlcv bench bgan-schedule --pilot {args.pilot} --report-only"
    Path(spec.page).write_text(render_schedule(args.pilot, Path(spec.notes).read_text(), payloads, command))
    print(f"wrote {spec.page}")
    return 0


# ---------------------------------------------------------------------------- bgan-update-cost
def _seconds_per_update(algo: str, updates: int, run_dir: Path) -> float:
    args = ["train", "--algo", algo, "--env", "rlcv/BGAN-Digits-v0", "--steps", str(64 * updates)]
    args += ["--seed", "0", "--num-threads", "1", "--no-progress", "--env-kwargs", '{"disc_batch_size": 128}']
    train_or_fail([RunJob(f"{algo} timing", run_dir, args, 64 * updates)], workers=1, fix="rerun the bench")
    rows = RunDir(run_dir).metrics_rows()
    return float(rows[-1]["time_elapsed"]) / len(rows)


def time_updates(updates: int, repeats: int) -> dict[str, list[float]]:
    cost: dict[str, list[float]] = {a: [] for a in ALGOS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            for algo in ALGOS:
                cost[algo].append(_seconds_per_update(algo, updates, Path(tmp) / f"{algo}_{rep}"))
                print(f"repeat {rep} {algo}: {1000 * cost[algo][-1]:.1f} ms/update", flush=True)
    return cost


def run_update_cost(args: argparse.Namespace) -> int:
    out = Path(args.out)
    require_report_input(out / "bgan.json", "bgan")
    timing = saved_or_measured(
        out / "bgan_update_cost.json", "bgan-update-cost", args.report_only,
        lambda: {"updates": args.updates, "seconds_per_update": time_updates(args.updates, args.repeats)},
    )  # fmt: skip
    bench, cost = json.loads((out / "bgan.json").read_text()), timing["seconds_per_update"]
    bgans = [r for r in bench["runs"] if r["algo"] == "bgan"]
    text = render(
        "bgan_update_cost.md.j2", updates=timing["updates"], cost=cost, algos=ALGOS, starred=starred,
        ratios={a: cost_ratios(cost, a) for a in ALGOS}, median={a: float(np.median(cost[a])) for a in ALGOS},
        bgan_updates=bgans[0]["final"]["updates"], n_seeds=len(bgans), rows=equal_compute(cost, bench),
    )  # fmt: skip
    write_page(out, "bgan_update_cost", text)
    return 0


# ---------------------------------------------------------------------------- bgan-capacity
def variant_runs(out: Path, report_only: bool) -> dict[str, list[dict[str, Any]]]:
    """Each variant's distillations: the stored ones (checked against :data:`VARIANTS`), the others run."""
    from rlcv.gan.distil import distil_seeds

    store = ResultStore(out / "bgan_capacity")
    tasks = [
        Task(v, {}, partial(distil_seeds, a, seeds, ckpts, K)) for v, (a, seeds, ckpts) in VARIANTS.items()
    ]
    stored = run_tasks(store, tasks, report_only=report_only)
    for variant, (_, seeds, checkpoints) in VARIANTS.items():
        saved = stored[variant]
        if saved["checkpoints"] != list(checkpoints) or [r["seed"] for r in saved["runs"]] != list(seeds):
            raise RlcvError(
                f"{store.path(variant)} holds other seeds / checkpoints than {variant}'s "
                f"({list(seeds)}, {list(checkpoints)}); delete it to redo it."
            )
    return {v: stored[v]["runs"] for v in VARIANTS}


def run_capacity(args: argparse.Namespace) -> int:
    out = Path(args.out)
    require_report_input(out / "bgan.json", "bgan")
    runs = variant_runs(out, args.report_only)
    bench = json.loads((out / "bgan.json").read_text())
    mixture = {s: r["final"] for s, r in seeded(bench["references"]["rows"]["mixture"]).items()}
    text = render(
        "bgan_capacity.md.j2", variants=VARIANTS, runs=runs, keys=KEYS, seeds=SEEDS, mixture=mixture,
        bgan={r["seed"]: r["final"] for r in bench["runs"] if r["algo"] == "bgan"},
        cell=lambda values: mean_t(values).fmt(".3f"), paired_cell=lambda a, b: starred(paired_t(a, b)),
        pick=lambda by_seed, seeds, key: [by_seed[s][key] for s in seeds],
    )  # fmt: skip
    write_page(out, "bgan_capacity", text)
    return 0
