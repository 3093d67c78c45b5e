"""`rlcv bench bgan`: BGAN vs REINFORCE vs Gumbel-ST generators on BGAN-Digits, against density models.

Training. Every (algo, seed) is a plain ``rlcv train`` (:mod:`rlcv.bench.runs`, one thread) with the
*same* preset (``rlcv/presets/bgan.yaml``; the baselines inherit it), ``--steps`` and ``--set``, so every
generator takes the same updates (``steps / n_steps``) on as many images, and its env trains the
discriminator on as much generated data. ``--curve-points`` step checkpoints per run (the last is the
final generator) make the learning curves. Runs go to ``RUNS/ENV/ALGO/sSEED``.

Scoring (:mod:`rlcv.gan.scoring`): each checkpoint's generator on the evaluation latents, against the
450 held-out images (``--against train``: 450 training images, to choose a schedule). A run's scores go
to ``OUT/NAME/summaries/ALGO_sSEED.json`` as soon as it is scored (a rerun skips it). Reference rows per
seed, by the same code on the same latents: ``real``, ``independent`` (K = 1 product mixture),
``mixture`` (K by validation likelihood).

Statistics (:mod:`rlcv.stats`): mean and t-interval over seeds; paired differences BGAN − every
other row at equal updates (final checkpoints) and at equal wall-clock (per seed, each generator at its
last checkpoint within the shortest run's training time). Outputs: ``OUT/NAME.md`` (template
``bgan.md.j2``), ``OUT/NAME.json``, ``OUT/NAME/*.png``, ``OUT/NAME/summaries/*.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.bench.checks import existing_file, out_dir, positive_int, seed_count, seed_value
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench
from rlcv.bench.runs import RunJob, default_workers, train_then_score
from rlcv.cli_args import parse_env_kwargs
from rlcv.errors import RlcvError
from rlcv.gan.scoring import EVAL_SEED, REFERENCES
from rlcv.stats import Interval, from_jsonable, jsonable, mean_t, paired_t

GENERATORS = ("bgan", "bgan-reinforce", "bgan-gumbel")
SEED_ROLES = {  # what each seed seeds, stored in the bench's JSON
    "training": "each run's seed (rlcv train --seed): generator init, env RNG, discriminator init",
    "evaluation_latents": EVAL_SEED,
    "collapse_group_latents": EVAL_SEED + 1,
    "c2st_1nn_mmd_permutations": EVAL_SEED,
    "mixture_k_selection_split": 0,
    "reference_rows": "each row's seed: EM initialisation, pixel draws, the real-digit subset",
}
# The metrics of the tables, in column order (their titles, and the rows' labels, are the template's)
METRICS = (
    "c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share", "class_coverage",
    "label_entropy", "unique_fraction", "across_latent_distance", "within_latent_distance",
)  # fmt: skip
CURVE_KEYS = (
    "c2st_accuracy",
    "nn1_accuracy",
    "mmd2",
    "confident_coverage",
    "confident_share",
    "unique_fraction",
)
Seeds = dict[int, dict[str, Any]]  # seed → a row's run / reference record
Rows = dict[str, Seeds]  # row name → its records


@dataclass(kw_only=True)
class BganSpec:
    env: str = flag("rlcv/BGAN-Digits-v0")
    algos: list[str] = flag(
        list(GENERATORS), nargs="*", help="generators to train (none: reference rows only)"
    )
    seeds: int = flag(5, type=seed_count, help="seeds FIRST..FIRST+N-1")
    first_seed: int = flag(0, type=seed_value)
    steps: int = flag(96_000, type=positive_int, help="latents per run (n_steps per update)")
    curve_points: int = flag(6, type=positive_int, help="checkpoints scored per run")
    against: str = flag(
        "held-out", choices=("held-out", "train"), help="score against the held-out or training images"
    )
    workers: int | None = flag(None, type=positive_int, help="concurrent runs (default: one per core)")
    overrides: list[str] = flag(
        [], name="--set", action="extend", metavar="KEY=VALUE", show=lambda s: bool(s.overrides),
        help="config overrides applied to every algorithm alike",
    )  # fmt: skip
    env_kwargs: dict[str, Any] = flag({}, type=parse_env_kwargs, help="env kwargs, for every run")
    out: str = flag("results", type=out_dir, help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/*")
    name: str = flag("bgan", help="file stem of the outputs")
    runs: str = flag("runs/bench-bgan", type=out_dir, help="where the run directories go")
    report_only: bool = flag(False, command=False, help="rebuild OUT/NAME.md from OUT/NAME.json")
    notes: str | None = flag(None, type=existing_file, help="markdown placed under '## Reading'")

    @property
    def seed_range(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)

    def checkpoint_freq(self) -> int:
        """Env steps between step checkpoints: ``--curve-points`` of them, the last at ``--steps``."""
        if self.steps % self.curve_points:
            raise RlcvError(
                f"--steps ({self.steps}) must be a multiple of --curve-points ({self.curve_points})."
            )
        return self.steps // self.curve_points

    def train_args(self, algo: str, seed: int) -> list[str]:
        """``rlcv train`` arguments of one run (the runner adds ``--run-dir``)."""
        cmd = ["train", "--algo", algo, "--env", self.env, "--steps", str(self.steps), "--seed", str(seed)]
        cmd += ["--num-threads", "1", "--no-progress"]
        if self.env_kwargs:
            cmd += ["--env-kwargs", json.dumps(self.env_kwargs)]
        return [*cmd, "--set", *self.overrides, f"checkpoint_freq={self.checkpoint_freq()}"]


def register(sub: argparse._SubParsersAction) -> None:
    add_bench(
        sub, "bgan", BganSpec, run, help="BGAN vs REINFORCE vs Gumbel-softmax generators vs density models"
    )


def run(args: argparse.Namespace) -> int:
    spec = spec_of(BganSpec, args)
    if spec.report_only:
        print(report_only(Path(spec.out), spec.name, notes=spec.notes))
    else:
        main(spec)
    return 0


def scored_summary(path: Path, train_args: list[str], against: str) -> dict[str, Any] | None:
    """A scored run's summary made with these settings; None when there is none, an error when it was
    made with others (shared by the BGAN benches)."""
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if summary.get("train_args") == train_args and summary.get("against") == against:
        return dict(summary)
    raise RlcvError(
        f"'{path}' was made with other settings (`rlcv {shlex.join(summary.get('train_args', []))}`, "
        f"against {summary.get('against')}); pass another --name, or delete it to redo that run."
    )


def write_json(path: Path, value: Any) -> None:
    """Atomically: an interrupted bench never leaves half a summary."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    tmp.replace(path)


# ---------------------------------------------------------------------------- running


def _check(spec: BganSpec) -> None:
    from rlcv.agents import AGENTS
    from rlcv.bench.checks import check_bgan_run

    for algo in spec.algos:
        if algo not in AGENTS or not algo.startswith("bgan"):
            raise RlcvError(
                f"rlcv bench bgan compares generator agents ({', '.join(GENERATORS)}), got '{algo}'."
            )
    spec.checkpoint_freq()
    check_bgan_run(argparse.Namespace(**vars(spec)))  # the env, its kwargs and --set, before the first write


Scorer = Callable[[RunJob], dict[str, Any]]  # a trained run → its scores (the summary's other fields)


def scored_runs(
    planned: Sequence[tuple[RunJob, Path, Scorer]], against: str, workers: int, finished_only: bool = False
) -> list[dict[str, Any]]:
    """The scored summary of every planned (job, summary path, scorer): reused when one was made with
    these settings, else trained (:func:`rlcv.bench.runs.train_then_score`; ``finished_only``: train
    nothing, score the runs already finished) and scored, its summary written as soon as it is."""
    done, todo = [], []
    for job, path, score in planned:
        summary = scored_summary(path, job.train_args, against)
        if summary is not None:
            done.append(summary)
        else:
            todo.append((job, partial(_score_and_save, job, path, against, score)))
    if done:
        print(f"reusing {len(done)} scored run(s) from {planned[0][1].parent}", flush=True)
    if not finished_only:
        return done + train_then_score(todo, workers)
    for job, _ in (t for t in todo if not t[0].is_finished()):
        print(f"{job.name}: not finished, left out", flush=True)
    return done + [score() for job, score in todo if job.is_finished()]


def _score_and_save(job: RunJob, path: Path, against: str, score: Scorer) -> dict[str, Any]:
    start = time.perf_counter()
    summary = {"train_args": job.train_args, "against": against, **score(job)}
    summary["score_seconds"] = time.perf_counter() - start
    write_json(path, summary)
    return summary


def _score(spec: BganSpec, algo: str, seed: int, grids: Path, job: RunJob) -> dict[str, Any]:
    """One trained run's scores at its checkpoints (and the first seed's grid); prints its final row."""
    from rlcv.gan.scoring import save_sample_grid, score_run

    freq = spec.checkpoint_freq()
    scores = score_run(job.run_dir, [k * freq for k in range(1, spec.curve_points + 1)], spec.against)
    if seed == spec.first_seed:
        save_sample_grid(job.run_dir, grids / f"{algo}_s{seed}.png")
    f = scores["final"]
    print(
        f"{algo} seed {seed}: C2ST {f['c2st_accuracy']:.3f}, 1-NN {f['nn1_accuracy']:.3f}, "
        f"{f['confident_coverage']:.0f} confident classes ({f['wall_seconds']:.0f} s)",
        flush=True,
    )
    return {"algo": algo, "seed": seed, "run_dir": str(job.run_dir), **scores}


def _runs(spec: BganSpec, grids: Path, runs_root: Path) -> list[dict[str, Any]]:
    """Every (algo, seed)'s scored summary, in seed then ``--algos`` order."""
    planned = []
    for seed in spec.seed_range:
        for algo in spec.algos:
            job = RunJob(
                f"{algo} seed {seed}", runs_root / algo / f"s{seed}", spec.train_args(algo, seed), spec.steps
            )
            planned.append(
                (job, grids / "summaries" / f"{algo}_s{seed}.json", partial(_score, spec, algo, seed, grids))
            )
    results = scored_runs(planned, spec.against, spec.workers or default_workers())
    order = [(a, s) for s in spec.seed_range for a in spec.algos]
    return sorted(results, key=lambda r: order.index((r["algo"], r["seed"])))


def main(spec: BganSpec) -> dict[str, Any]:
    from rlcv.gan.metrics import platform_record
    from rlcv.gan.scoring import env_levels, reference_rows

    _check(spec)
    out, grids = Path(spec.out), Path(spec.out) / spec.name
    (grids / "summaries").mkdir(parents=True, exist_ok=True)
    runs_root = Path(spec.runs) / spec.env.replace("/", "-")
    results = _runs(spec, grids, runs_root)
    levels = env_levels(spec.env, spec.env_kwargs)
    latent_dim = int(spec.env_kwargs.get("latent_dim", 32))
    payload = {
        "command": command_line("rlcv bench bgan", spec),
        "levels": levels,
        "seeds": list(spec.seed_range),
    }
    payload |= {
        k: getattr(spec, k) for k in ("env", "steps", "against", "overrides", "env_kwargs", "curve_points")
    }
    payload |= {
        "eval_seed": EVAL_SEED,
        "seed_roles": SEED_ROLES,
        "workers": spec.workers or default_workers(),
    }
    payload |= {"runs_root": str(runs_root), "platform": platform_record(), "runs": results}
    payload["references"] = reference_rows(levels, spec.against, spec.seed_range, latent_dim, grids)
    payload["comparisons"] = comparisons(payload)
    write_json(out / f"{spec.name}.json", jsonable(payload))
    if results:
        plot_curves(payload, grids / "curves.png")
    print(write_report(payload, out, spec.name, notes=spec.notes))
    return payload


# ---------------------------------------------------------------------------- comparisons


def rows_by_name(payload: dict[str, Any], key: str = "algo") -> Rows:
    """Row name (a run's ``key``) → seed → that row's run/reference record (runs, then reference rows)."""
    rows: Rows = {}
    for r in payload["runs"]:
        rows.setdefault(r[key], {})[r["seed"]] = r
    for name, refs in (payload.get("references") or {}).get("rows", {}).items():
        rows[name] = {r["seed"]: r for r in refs}
    return rows


def _at_wall(run: dict[str, Any], budget: float) -> dict[str, Any]:
    """The run's last curve point trained within ``budget`` seconds (its first if none is)."""
    within = [p for p in run["curve"] if p["wall_seconds"] <= budget + 1e-9]
    return within[-1] if within else run["curve"][0]


def final_value(rec: dict[str, Any], key: str) -> float:
    """A row's final value of ``key`` (``ess``: its training's), NaN where it has none."""
    v = rec.get("train", {}).get("ess") if key == "ess" else rec["final"].get(key)
    return math.nan if v is None else float(v)


def paired_final(a: Seeds, b: Seeds, key: str) -> Interval:
    """Paired t interval of ``key``, a − b, over the seeds both rows hold (a NaN side drops the pair)."""
    seeds = sorted(set(a) & set(b))
    return paired_t([final_value(a[s], key) for s in seeds], [final_value(b[s], key) for s in seeds])


def mean_cell(by_seed: Seeds, key: str, spec: str = ".3f") -> str:
    """A row's mean [95 % t-interval] over its seeds."""
    return mean_t([final_value(r, key) for r in by_seed.values()]).fmt(spec)


def comparisons(payload: dict[str, Any]) -> dict[str, Any]:
    """Paired (same-seed) differences ``bgan − other`` of every metric: at equal generator updates
    against every other row, and at equal wall-clock against the other generators. Each is the paired t
    interval (:func:`paired_final`) as strict JSON (:func:`stats.jsonable`)."""
    rows = rows_by_name(payload)
    if "bgan" not in rows:
        return {}
    bgan = rows["bgan"]

    def paired(a: Seeds, b: Seeds) -> dict[str, Any]:
        return {k: jsonable(paired_final(a, b, k)) for k in METRICS}

    out: dict[str, Any] = {"equal_updates": {o: paired(bgan, r) for o, r in rows.items() if o != "bgan"}}
    out["equal_wall_clock"] = {}
    generators = [a for a in rows if a in {r["algo"] for r in payload["runs"]}]
    for other in (g for g in generators if g != "bgan"):
        budgets = {  # per seed, the shortest generator's training time
            s: min(rows[g][s]["curve"][-1]["wall_seconds"] for g in generators if s in rows[g])
            for s in sorted(set(bgan) & set(rows[other]))
        }
        a = {s: {"final": _at_wall(bgan[s], t)} for s, t in budgets.items()}
        b = {s: {"final": _at_wall(rows[other][s], t)} for s, t in budgets.items()}
        out["equal_wall_clock"][other] = {
            "budget_seconds": list(budgets.values()),
            "bgan_updates": [a[s]["final"]["updates"] for s in budgets],
            "other_updates": [b[s]["final"]["updates"] for s in budgets],
            **paired(a, b),
        }
    return out


# ---------------------------------------------------------------------------- figures


def plot_curves(payload: dict[str, Any], path: Path) -> None:
    """Metrics of the scored checkpoints against generator updates (top) and wall-clock (bottom): mean
    over seeds with a 95 % t-band; reference rows as horizontal lines (their mean)."""
    from rlcv.bench.report import figure

    rows, algos = rows_by_name(payload), list(dict.fromkeys(r["algo"] for r in payload["runs"]))
    size = (3.3 * len(CURVE_KEYS), 6.0)
    with figure(path, 2, len(CURVE_KEYS), dpi=90, figsize=size, squeeze=False) as (_, axes):
        for col, key in enumerate(CURVE_KEYS):
            for row, x_key in enumerate(("updates", "wall_seconds")):
                _draw_curve(axes[row][col], rows, algos, key, x_key)
        axes[0][0].legend(fontsize=7)


def _draw_curve(ax: Any, rows: Rows, algos: list[str], key: str, x_key: str) -> None:
    for i, algo in enumerate(algos):
        runs = list(rows[algo].values())
        n = min(len(r["curve"]) for r in runs)
        x = np.mean([[p[x_key] for p in r["curve"][:n]] for r in runs], 0)
        stats = [mean_t([r["curve"][j].get(key, math.nan) for r in runs]).as_tuple() for j in range(n)]
        m, lo, hi = (np.array(v, np.float64) for v in zip(*stats, strict=True))
        ax.plot(x, m, color=f"C{i}", marker="o", ms=3, lw=1.2, label=algo)
        ax.fill_between(x, lo, hi, color=f"C{i}", alpha=0.2, lw=0)
    for j, (name, style) in enumerate((("mixture", "--"), ("independent", ":"), ("real", "-."))):
        vals = [r["final"].get(key, math.nan) for r in rows.get(name, {}).values()]
        if vals:
            ax.axhline(np.nanmean(vals), color=f"C{len(algos) + j}", ls=style, lw=1, label=name)
    ax.set_xlabel("generator updates" if x_key == "updates" else "training wall-clock (s)", fontsize=8)
    ax.set_title(key, fontsize=9)
    ax.tick_params(labelsize=7)


# ---------------------------------------------------------------------------- report


def report_only(out: Path, name: str, notes: str | None = None) -> str:
    """Rebuild OUT/NAME.md from OUT/NAME.json (no training, no evaluation). The paired comparisons are
    recomputed from the runs and written back, so the JSON follows the statistics code."""
    from rlcv.bench.checks import require_report_input

    path = out / f"{name}.json"
    require_report_input(path, "bgan")
    payload = json.loads(path.read_text())
    payload["comparisons"] = comparisons(payload)
    write_json(path, jsonable(payload))
    return write_report(payload, out, name, notes=notes)


def starred(iv: Interval) -> str:
    """A paired difference as a cell, '+0.080 [+0.023, +0.136] *': * when its interval excludes 0."""
    return iv.fmt("+.3f") + (" *" if iv.excludes(0.0) else "")


def diff_cell(d: dict[str, Any]) -> str:
    """A stored paired interval (:func:`comparisons`) as a :func:`starred` cell."""
    return starred(from_jsonable(d))


def targets(payload: dict[str, Any]) -> list[str]:
    """The issue's target lines, each read off the numbers (template ``bgan_targets.md.j2``)."""
    from rlcv.bench.report import render

    rows = rows_by_name(payload)
    if "bgan" not in rows or "mixture" not in rows:
        return []
    eq, bg = payload["comparisons"]["equal_updates"], [r["final"] for r in rows["bgan"].values()]
    on_ref = payload["references"].get("labeller_on_reference")
    real = [r["final"] for r in rows["real"].values()]
    share = on_ref["confident_share"] if on_ref else float(np.mean([f["confident_share"] for f in real]))
    unique = float(np.mean([f["unique_fraction"] for f in real]))
    c2st_high = mean_t([f["c2st_accuracy"] for f in bg]).high
    others = {
        o: c2st_high < mean_t([r["final"]["c2st_accuracy"] for r in rows[o].values()]).low
        for o in rows
        if o.startswith("bgan-")
    }
    covered = all(f["confident_coverage"] == 10 for f in bg)
    text = render(
        "bgan_targets.md.j2",
        eq=eq,
        bg=bg,
        real_share=share,
        share_ok=covered and all(abs(f["confident_share"] - share) <= 0.15 for f in bg),
        real_unique=unique,
        unique_ok=all(f["unique_fraction"] >= 0.9 * unique for f in bg),
        others=others,
        cell=diff_cell,
        diff=from_jsonable,
        join=_join,
    )
    return text.splitlines()


def _join(records: list[dict[str, Any]], key: str, spec: str) -> str:
    return ", ".join(f"{r[key]:{spec}}" for r in records)


def _training(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How the generators were trained (None: no generator here)."""
    if not runs:
        return None
    wall = [r["curve"][-1]["wall_seconds"] for r in runs]
    return {"updates": runs[0]["final"]["updates"], "cfg": runs[0]["config"], "wall": (min(wall), max(wall))}


def write_report(payload: dict[str, Any], out: Path, name: str = "bgan", notes: str | None = None) -> str:
    from rlcv.bench.report import render

    rows = rows_by_name(payload)
    algos = list(dict.fromkeys(r["algo"] for r in payload["runs"]))
    if notes is not None and not Path(notes).is_file():
        raise RlcvError(f"--notes {notes}: no such file.")
    text = render(
        "bgan.md.j2",
        p=payload,
        out=out,
        name=name,
        notes=notes,
        reading=Path(notes).read_text().strip() if notes else None,
        rows=rows,
        algos=algos,
        names=[n for n in [*algos, *REFERENCES] if rows.get(n)],
        references=REFERENCES,
        curve_keys=CURVE_KEYS,
        targets=targets(payload),
        train=_training(payload["runs"]),
        per_pixel={0: "Gaussian", 2: "Bernoulli"}.get(payload.get("levels", 2), "categorical"),
        mean_cell=mean_cell,
        cell=diff_cell,
        json=json.dumps,
        avg=lambda xs: float(np.mean(xs)),
    )
    (out / f"{name}.md").write_text(text)
    return text
