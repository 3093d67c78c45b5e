"""`rlcv bench bgan`: BGAN vs REINFORCE vs Gumbel-ST generators on BGAN-Digits, against density models;
and the runner of every GAN bench here (:func:`scored_sweep`, :class:`VariantSpec`).

Every (algo, seed) is a plain ``rlcv train`` (:mod:`rlcv.bench.runs`, one thread) with the *same*
preset (``rlcv/presets/bgan.yaml``), ``--steps`` and ``--set``: every generator takes the same updates
on as many images. ``--curve-points`` step checkpoints per run (the last is the final generator) are
scored by :mod:`rlcv.gan.scoring` on the evaluation latents, against the 450 held-out images
(``--against train``: training images, to choose a schedule), each run's scores kept in
``OUT/NAME/summaries/ALGO_sSEED.json`` as soon as it is scored (a rerun skips it); so are the reference
rows (``real``, ``independent``, ``mixture``), per seed on the same latents. The page (``bgan.md.j2``)
holds means [t-interval] over seeds and the paired differences BGAN − every other row at equal updates
and equal wall-clock (:mod:`rlcv.gan.rows`).
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

from rlcv.bench.checks import SEED_LIMIT, existing_file, out_dir, positive_int, seed_count, seed_value
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, figure, render, saved_or_measured
from rlcv.bench.runs import RunJob, default_workers, train_then_score
from rlcv.bench.summaries import write
from rlcv.cli_args import parse_env_kwargs
from rlcv.errors import RlcvError
from rlcv.gan.rows import Rows, bgan_targets, comparisons, mean, paired, rows_by_name, vs_fixed
from rlcv.gan.scoring import EVAL_SEED, REFERENCES, SEED_ROLES
from rlcv.stats import Interval, from_jsonable, jsonable, mean_t

GENERATORS = ("bgan", "bgan-reinforce", "bgan-gumbel")
CURVE_KEYS = (  # the metrics of the learning curves
    "c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share", "unique_fraction",
)  # fmt: skip


@dataclass(kw_only=True)
class SweepSpec:
    """The flags every GAN sweep here shares (defaults: `rlcv bench bgan`'s): seeds FIRST..FIRST+N-1,
    where the runs and the outputs go."""

    seeds: int = flag(5, type=seed_count, help="seeds FIRST..FIRST+N-1")
    first_seed: int = flag(0, type=seed_value)
    workers: int | None = flag(None, type=positive_int, help="concurrent runs (default: one per core)")
    out: str = flag("results", type=out_dir, help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/*")
    name: str = flag("bgan", help="file stem of the outputs")
    runs: str = flag("runs/bench-bgan", type=out_dir, help="where the run directories go")
    report_only: bool = flag(False, command=False, help="rebuild OUT/NAME.md from OUT/NAME.json")
    notes: str | None = flag(None, type=existing_file, help="markdown placed under '## Reading'")

    @property
    def seed_range(self) -> range:
        return range(self.first_seed, self.first_seed + self.seeds)


@dataclass(kw_only=True)
class BganSpec(SweepSpec):
    env: str = flag("rlcv/BGAN-Digits-v0")
    algos: list[str] = flag(
        list(GENERATORS), nargs="*", help="generators to train (none: reference rows only)"
    )
    steps: int = flag(96_000, type=positive_int, help="latents per run (n_steps per update)")
    curve_points: int = flag(6, type=positive_int, help="checkpoints scored per run")
    against: str = flag(
        "held-out", choices=("held-out", "train"), help="score against the held-out or training images"
    )
    overrides: list[str] = flag(
        [], name="--set", action="extend", metavar="KEY=VALUE", show=lambda s: bool(s.overrides),
        help="config overrides applied to every algorithm alike",
    )  # fmt: skip
    env_kwargs: dict[str, Any] = flag({}, type=parse_env_kwargs, help="env kwargs, for every run")

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
    """Train and score (or, ``--report-only``, read OUT/NAME.json); the paired comparisons are
    recomputed from the runs and written into the JSON, so it follows the statistics code."""
    spec = spec_of(BganSpec, args)
    out, path = Path(spec.out), Path(spec.out) / f"{spec.name}.json"
    payload = saved_or_measured(path, "bgan", spec.report_only, partial(measure, spec), save=False)
    payload["comparisons"] = comparisons(payload)
    write(path, jsonable(payload))
    print(write_report(payload, out, spec.name, spec.notes))
    return 0


# ---------------------------------------------------------------------------- running
def scored_sweep(
    spec: SweepSpec, rows: Sequence[str], *, root: Path, train_args: Callable[[str, int], list[str]],
    steps: int, score: Callable[[str, int, RunJob], dict[str, Any]], against: str,
) -> dict[tuple[str, int], dict[str, Any]]:  # fmt: skip
    """Every (row, seed)'s scored summary ``OUT/NAME/summaries/ROW_sSEED.json`` of its run
    ``ROOT/ROW/sSEED``: reused when made with these train arguments and ``against`` (an error when made
    with others), else trained on ``--workers`` (:func:`rlcv.bench.runs.train_then_score`;
    ``--score-finished``: train nothing, score the finished runs, leave the others out) and scored by
    ``score(row, seed, job)``, each summary written as soon as it is."""
    folder, finished_only = Path(spec.out) / spec.name / "summaries", getattr(spec, "score_finished", False)
    folder.mkdir(parents=True, exist_ok=True)
    done, todo, left = {}, [], []
    for seed in spec.seed_range:
        for row in rows:
            job = RunJob(f"{row} seed {seed}", root / row / f"s{seed}", train_args(row, seed), steps)
            path = folder / f"{row}_s{seed}.json"
            summary = _scored_summary(path, job.train_args, against)
            if summary is not None:
                done[row, seed] = summary
            elif finished_only and not job.is_finished():
                left.append(job.name)
            else:
                save = partial(_score_and_save, job, path, against, partial(score, row, seed))
                todo.append(((row, seed), job, save))
    if done:
        print(f"reusing {len(done)} scored run(s) from {folder}", flush=True)
    for name in left:
        print(f"{name}: not finished, left out", flush=True)
    if finished_only:
        scored = [save() for _, _, save in todo]
    else:
        scored = train_then_score([(job, save) for _, job, save in todo], spec.workers or default_workers())
    return done | {key: s for (key, _, _), s in zip(todo, scored, strict=True)}


def _scored_summary(path: Path, train_args: list[str], against: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if summary.get("train_args") == train_args and summary.get("against") == against:
        return dict(summary)
    raise RlcvError(
        f"'{path}' was made with other settings (`rlcv {shlex.join(summary.get('train_args', []))}`, "
        f"against {summary.get('against')}); pass another --name, or delete it to redo that run."
    )


def _score_and_save(job: RunJob, path: Path, against: str, score: Callable[[RunJob], dict]) -> dict:
    start = time.perf_counter()
    summary = {"train_args": job.train_args, "against": against, **score(job)}
    summary["score_seconds"] = time.perf_counter() - start
    write(path, summary)
    return summary


@dataclass(kw_only=True)
class VariantSpec(SweepSpec):
    """The flags of a variant sweep (``bench bgan-collapse``, ``bench ldf-lower``): each of ``--variants`` on
    seeds FIRST..FIRST+N-1, paired against ``--baseline`` (a bench adds its own flags and ``--variants``'
    choices)."""

    variants: list[str] = flag(["base"])
    baseline: str = flag("base", help="the variant every other is paired against")
    score_finished: bool = flag(
        False, help="train nothing: score the finished runs, leave the others (e.g. still training elsewhere)"
    )


def check_baseline(spec: Any) -> None:
    if spec.baseline not in spec.variants:
        raise RlcvError(f"--baseline {spec.baseline} must be one of --variants ({' '.join(spec.variants)}).")


def run_variants(spec: Any, bench: str, measure: Callable[[Any], dict], report: Callable[..., str]) -> int:
    """A variant sweep's ``run``: ``measure(spec)`` written to OUT/NAME.json (``--report-only``: read from
    there), then its page ``report(payload, OUT, NAME, NOTES)``."""
    out, path = Path(spec.out), Path(spec.out) / f"{spec.name}.json"
    payload = saved_or_measured(path, bench, spec.report_only, partial(measure, spec), save=False)
    if not spec.report_only:
        path.write_text(json.dumps(payload, indent=1, default=list))
    print(report(payload, out, spec.name, spec.notes))
    return 0


def variant_page(template: str, payload: dict, out: Path, name: str, notes: str | None, **data: Any) -> str:
    """OUT/NAME.md of a variant sweep: ``template`` with the payload, its rows by variant, the reading
    (``notes``) and the row statistics of :mod:`rlcv.gan.rows`."""
    text = render(
        template, p=payload, name=name, rows=rows_by_name(payload, "variant"), mean=mean, paired=paired,
        vs_fixed=vs_fixed, starred=starred,
        reading=Path(notes).read_text().strip() if notes else None, **data,
    )  # fmt: skip
    (out / f"{name}.md").write_text(text)
    return text


def _score(spec: BganSpec, grids: Path, algo: str, seed: int, job: RunJob) -> dict[str, Any]:
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


def _check(spec: BganSpec) -> None:
    """Before the first write: the algos are generators, the seeds stay below 2**32, ``--env`` is a digits
    generator env (the bench scores 8×8 digits) that accepts ``--env-kwargs``, and every algo accepts the
    ``--set`` overrides; each would otherwise fail every run and leave output folders behind."""
    import gymnasium as gym

    from rlcv.agents import AGENTS
    from rlcv.config import parse_overrides
    from rlcv.env_factory import check_env_id, make_env
    from rlcv.envs.bgan_digits import BGANDigitsEnv
    from rlcv.launch import resolve_config

    for algo in spec.algos:
        if algo not in AGENTS or not algo.startswith("bgan"):
            raise RlcvError(
                f"rlcv bench bgan compares generator agents ({', '.join(GENERATORS)}), got '{algo}'."
            )
    spec.checkpoint_freq()
    if spec.first_seed + spec.seeds > SEED_LIMIT:
        raise RlcvError(
            f"--first-seed + --seeds must be <= 2**32 (seeds live in [0, 2**32)), got "
            f"{spec.first_seed} + {spec.seeds}."
        )
    check_env_id(spec.env)
    entry = gym.spec(spec.env).entry_point
    made = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    if not (isinstance(made, type) and issubclass(made, BGANDigitsEnv)):
        raise RlcvError(
            f"--env {spec.env} is not a digits generator env; bench bgan scores generated 8x8 digits: use "
            "rlcv/BGAN-Digits-v0, rlcv/BGAN-Digits4-v0 or rlcv/BGAN-DigitsCont-v0."
        )
    overrides = {**parse_overrides(spec.overrides), "env_kwargs": spec.env_kwargs}
    for algo in spec.algos:
        try:
            resolve_config(algo, spec.env, None, overrides)
        except RlcvError as exc:
            raise RlcvError(f"--set / --env-kwargs for {algo}: {exc}") from exc
    make_env(spec.env, spec.env_kwargs).close()


def measure(spec: BganSpec) -> dict[str, Any]:
    """Train and score every run, score the reference rows, draw the curves: the bench's JSON."""
    from rlcv.gan.metrics import platform_record
    from rlcv.gan.scoring import env_levels, reference_rows

    _check(spec)
    grids, root = Path(spec.out) / spec.name, Path(spec.runs) / spec.env.replace("/", "-")
    found = scored_sweep(
        spec, spec.algos, root=root, train_args=spec.train_args, steps=spec.steps,
        score=partial(_score, spec, grids), against=spec.against,
    )  # fmt: skip
    levels = env_levels(spec.env, spec.env_kwargs)
    payload = {
        "command": command_line("rlcv bench bgan", spec),
        "levels": levels,
        "seeds": list(spec.seed_range),
        **{
            k: getattr(spec, k)
            for k in ("env", "steps", "against", "overrides", "env_kwargs", "curve_points")
        },
        "eval_seed": EVAL_SEED,
        "seed_roles": SEED_ROLES,
        "workers": spec.workers or default_workers(),
        "runs_root": str(root),
        "platform": platform_record(),
        "runs": [found[a, s] for s in spec.seed_range for a in spec.algos],
    }
    latent_dim = int(spec.env_kwargs.get("latent_dim", 32))
    payload["references"] = reference_rows(levels, spec.against, spec.seed_range, latent_dim, grids)
    if payload["runs"]:
        plot_curves(payload, grids / "curves.png")
    return payload


# ---------------------------------------------------------------------------- figures and the page
def plot_curves(payload: dict[str, Any], path: Path) -> None:
    """Metrics of the scored checkpoints against generator updates (top) and wall-clock (bottom): mean
    over seeds with a 95 % t-band; reference rows as horizontal lines (their mean)."""
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


def starred(iv: Interval | dict[str, Any]) -> str:
    """A paired difference (or its JSON) as a cell, '+0.080 [+0.023, +0.136] *': * when its interval
    excludes 0 (the GAN benches' paired cells)."""
    iv = from_jsonable(iv) if isinstance(iv, dict) else iv
    return iv.fmt("+.3f") + (" *" if iv.excludes(0.0) else "")


def write_report(payload: dict[str, Any], out: Path, name: str = "bgan", notes: str | None = None) -> str:
    rows = rows_by_name(payload)
    algos = list(dict.fromkeys(r["algo"] for r in payload["runs"]))
    text = render(
        "bgan.md.j2", p=payload, out=out, name=name, notes=notes, rows=rows, algos=algos,
        reading=Path(notes).read_text().strip() if notes else None,
        names=[n for n in [*algos, *REFERENCES] if rows.get(n)], references=REFERENCES,
        curve_keys=CURVE_KEYS, t=bgan_targets(payload), mean=mean, starred=starred, diff=from_jsonable,
        json=json.dumps, avg=lambda xs: float(np.mean(xs)),
    )  # fmt: skip
    (out / f"{name}.md").write_text(text)
    return text
