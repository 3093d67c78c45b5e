"""`rlcv bench ldf`: locally disentangled two-level generators vs flat BGAN on 8×8 binary digits, and
`rlcv bench ldf-cycle`: the paired effect of its cycle term, from two of its outputs.

Methods (:func:`_job`; each run a plain ``rlcv train``, one thread, through :mod:`rlcv.bench.runs`, so
the bench resumes): ``flat`` (``bgan``, U generator updates), ``decoupled`` (``bgan-hier``, U/2
lower-stage updates, then U/2 higher-stage ones on the frozen lower stage), ``joint`` (U/2 updates of
both stages at once) and ``reuse`` (U/2 higher-stage updates on decoupled seed 0's lower stage, seeds
1..N−1). Flat, decoupled and joint make the same U updates on paired seeds; at equal wall-clock each
is evaluated at its last checkpoint within the seed's shortest training time of the three. Every
generator is evaluated on the same 1000 latents by :mod:`rlcv.gan.ldf_eval`. Outputs: ``OUT/NAME.md``
(template ``ldf.md.j2``), ``OUT/NAME.json``, ``OUT/NAME/`` (summaries, evaluations, grids).

``ldf-cycle`` pairs by seed an output made with the cycle term (``--hier-set recon_weight=1.0``, default
``OUT/ldf.json``) and one without (``OUT/ldf_nocycle.json``): ``OUT/ldf_cycle.md`` (``ldf_cycle.md.j2``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.bench.checks import int_range, out_dir, positive_int, require_report_input, seed_count
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, render, write_page
from rlcv.bench.runs import RunJob, read_summary, train_or_fail, write_summary
from rlcv.errors import RlcvError
from rlcv.gan.ldf_eval import CODE_ENV, EVAL_SAMPLES, EVAL_SEED, FLAT_ENV, KEYS, comparison_rows
from rlcv.gan.rows import paired, vs_fixed

METHODS = ("flat", "decoupled", "joint", "reuse")
TIMED = ("flat", "decoupled", "joint")  # methods whose wall-clock includes every stage they train
STEPS_PER_UPDATE = 64  # n_steps of every preset involved (latents per update)
PARAM_SHARE = 0.5  # target: either stage trains at most this share of flat G + D's parameters
CYCLE_METRICS = {  # ldf-cycle's columns: key in the bench's ``final`` dict → label
    "c2st_accuracy": "C2ST", "nn1_accuracy": "1-NN", "confident_share": "confident share",
    "seam_discontinuity": "seam", "reconstruction_error": "reconstruction error",
}  # fmt: skip


@dataclass(kw_only=True)
class LdfSpec:
    methods: list[str] = flag(list(METHODS), choices=METHODS)
    seeds: int = flag(5, type=seed_count, help="paired seeds 0..N-1")
    updates: int = flag(1000, type=int_range(2), help="total generator updates U of flat/decoupled/joint")
    checkpoints: int = flag(10, type=positive_int, help="step checkpoints per run (equal wall-clock)")
    workers: int = flag(1, type=positive_int, help="concurrent runs (default 1: the machine is shared)")
    overrides: list[str] = flag(
        [], name="--set", action="extend", metavar="KEY=VALUE", show=lambda s: bool(s.overrides),
        help="config overrides for every run (keys all three agents accept)",
    )  # fmt: skip
    hier_overrides: list[str] = flag(
        [], name="--hier-set", metavar="KEY=VALUE", show=lambda s: bool(s.hier_overrides),
        help="config overrides for the two-level runs only (e.g. recon_weight=1.0); they get own run folders",
    )  # fmt: skip
    out: str = flag("results", type=out_dir, help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/")
    name: str = flag("ldf", help="file stem of the outputs")
    runs: str = flag("runs/bench-ldf", type=out_dir, help="where the run directories go")
    report_only: bool = flag(False, command=False, help="rebuild OUT/NAME.md from OUT/NAME.json")
    refresh_references: bool = flag(
        False, command=False,
        help="with --report-only: recompute the reference rows (real digits, independent pixels; no runs "
        "needed) into OUT/NAME.json first",
    )  # fmt: skip


def _named(spec: Any) -> bool:
    return (spec.with_name, spec.without_name) != ("ldf", "ldf_nocycle")


@dataclass(kw_only=True)
class CycleSpec:
    out: str = flag(
        "results",
        type=out_dir,
        show=lambda s: s.out != "results",
        help="folder of both JSONs and of the page",
    )
    with_name: str = flag("ldf", name="--with", show=_named, help="name of the run with the cycle term")
    without_name: str = flag("ldf_nocycle", name="--without", show=_named, help="name of the run without")
    report_only: bool = flag(False, command=False, help="accepted; this bench only reports")


def register(sub: argparse._SubParsersAction) -> None:
    about = "two-level (decoupled / joint) generators vs flat BGAN on binary digits"
    add_bench(sub, "ldf", LdfSpec, run, help=about)
    about = "paired effect of the ldf cycle term (two `bench ldf` outputs)"
    add_bench(sub, "ldf-cycle", CycleSpec, run_cycle, help=about)


# -- the runs ------------------------------------------------------------------------------------
def _method_dir(args: Any, method: str) -> str:
    """Runs of the two-level methods made with ``--hier-set`` go to their own folders (the flat runs,
    identical, are shared), e.g. ``decoupled+recon_weight=1.0``."""
    return method if method == "flat" or not args.hier_overrides else "+".join([method, *args.hier_overrides])


def _job(args: Any, method: str, seed: int, runs: Path, summaries: Path) -> RunJob:
    u = args.updates
    if method == "flat":
        algo, env, updates, extra = "bgan", FLAT_ENV, u, []
    elif method == "decoupled":
        algo, env, updates, extra = "bgan-hier", CODE_ENV, u, ["mode=decoupled", f"lower_updates={u // 2}"]
    else:  # joint, reuse
        mode = "joint" if method == "joint" else "decoupled"
        algo, env, updates, extra = "bgan-hier", CODE_ENV, u // 2, [f"mode={mode}"]
    steps = updates * STEPS_PER_UPDATE
    every = max(1, updates // args.checkpoints) * STEPS_PER_UPDATE
    train = ["train", "--algo", algo, "--env", env, "--steps", str(steps), "--seed", str(seed)]
    train += ["--num-threads", "1", "--no-progress"]
    if method == "reuse":
        train += ["--env-kwargs", json.dumps({"lower": str(runs / _method_dir(args, "decoupled") / "s0")})]
    hier = args.hier_overrides if method != "flat" else []
    train += ["--set", f"checkpoint_freq={every}", *extra, *args.overrides, *hier]
    name = f"{method}_s{seed}"
    run_dir = runs / _method_dir(args, method) / f"s{seed}"
    return RunJob(name, run_dir, train, steps, summary=summaries / f"{name}.json")


def _jobs(args: Any, runs: Path, summaries: Path) -> dict[str, list[RunJob]]:
    out: dict[str, list[RunJob]] = {}
    for method in args.methods:
        seeds = range(1, args.seeds) if method == "reuse" else range(args.seeds)
        out[method] = [_job(args, method, s, runs, summaries) for s in seeds]
    return out


def _evaluate_runs(jobs: dict[str, list[RunJob]], evals: Path) -> dict[str, list[dict[str, Any]]]:
    """Each finished run's final evaluation (cached under ``evals``) and training summary."""
    from rlcv.gan.ldf_eval import cached_evaluation, evaluate_generator, run_times

    results: dict[str, list[dict[str, Any]]] = {m: [] for m in jobs}
    for method, js in jobs.items():
        for job in js:
            cached = cached_evaluation(
                evals / f"{job.name}.json",
                job.train_args,
                lambda job=job: {"final": evaluate_generator(job.run_dir), "times": run_times(job.run_dir)},
            )
            if job.summary is not None and not job.has_summary():  # a finished run another report made
                write_summary(job)
            summary = read_summary(job.summary) if job.summary is not None else {}
            seed = int(job.name.rsplit("_s", 1)[1])
            record = {"seed": seed, "run_dir": str(job.run_dir), **cached, "summary": summary}
            results[method].append({**record, "args": job.train_args})
            print(f"{job.name}: C2ST {cached['final']['c2st_accuracy']:.3f}", flush=True)
    return results


def measure(spec: LdfSpec) -> dict[str, Any]:
    """Train (reuse after decoupled seed 0 has its lower stage), evaluate, draw the grids: the JSON."""
    from rlcv.envs.bgan_digits import digits
    from rlcv.gan.ldf_eval import equal_wall_clock, parameter_counts, save_grids
    from rlcv.gan.ldf_metrics import real_reference
    from rlcv.gan.metrics import save_grid

    if "reuse" in spec.methods and ("decoupled" not in spec.methods or spec.seeds < 2):
        raise RlcvError("method reuse needs method decoupled (its seed 0 lower stage) and --seeds >= 2.")
    folder, runs = Path(spec.out) / spec.name, Path(spec.runs)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(spec, runs, folder / "summaries")
    train_or_fail([j for m, js in jobs.items() if m != "reuse" for j in js], spec.workers)
    if "reuse" in jobs:
        train_or_fail(jobs["reuse"], spec.workers)
    results = _evaluate_runs(jobs, folder / "evals")
    grids = {
        m: save_grids(Path(rs[0]["run_dir"]), f"{m}_s{rs[0]['seed']}", folder)
        for m, rs in results.items()
        if rs
    }
    # Every seed's samples, not only the first (issue 29 item 2: a collapse on one seed must be visible);
    # one row per method, one column per seed ('' where a method has no such seed, e.g. reuse's seed 0).
    seeds = sorted({r["seed"] for rs in results.values() for r in rs})
    drawn = {  # the first seed's samples are already drawn (grids)
        m: {
            rs[0]["seed"]: grids[m][0],
            **{
                r["seed"]: save_grids(Path(r["run_dir"]), f"{m}_s{r['seed']}", folder, resample=False)[0]
                for r in rs[1:]
            },
        }
        for m, rs in results.items()
        if rs
    }
    seed_grids = {"seeds": seeds, "rows": {m: [d.get(s, "") for s in seeds] for m, d in drawn.items()}}
    save_grid(digits(2)["x_held_out"][:100].reshape(-1, 8, 8), folder / "real.png")
    return {
        "command": command_line("rlcv bench ldf", spec),
        "seeds": spec.seeds,
        "updates": spec.updates,
        "overrides": spec.overrides,
        "hier_overrides": spec.hier_overrides,
        "runs_root": str(runs),
        "results": results,
        "wall": equal_wall_clock(results, TIMED, spec.seeds, folder / "evals"),
        "params": parameter_counts(),
        "real_reference": real_reference(n=EVAL_SAMPLES, seed=EVAL_SEED),
        "grids": grids,
        "seed_grids": seed_grids,
    }


def run(args: argparse.Namespace) -> int:
    spec = spec_of(LdfSpec, args)
    path = Path(spec.out) / f"{spec.name}.json"
    if not spec.report_only:
        payload = measure(spec)
        path.write_text(json.dumps(payload, indent=1))
    else:
        require_report_input(path, "ldf")
        payload = json.loads(path.read_text())
        check_payload(payload, path)
        if spec.refresh_references:
            from rlcv.gan.ldf_metrics import real_reference

            payload["real_reference"] = real_reference(n=EVAL_SAMPLES, seed=EVAL_SEED)
            path.write_text(json.dumps(payload, indent=1))
    print(write_report(payload, Path(spec.out), spec.name))
    return 0


# -- the reports ------------------------------------------------------------------------------------
def check_payload(payload: dict[str, Any], path: Path) -> None:
    """``--report-only`` on a JSON written by an older bench (issue 16 changed the metrics): one error
    line naming what is missing, not a KeyError from the middle of the report."""
    for method, rows in (payload.get("results") or {}).items():
        missing = sorted({key for r in rows for key in set(KEYS) - set(r.get("final") or {})})
        if missing:
            raise RlcvError(
                f"--report-only: {path} was written by an older `rlcv bench ldf` (its {method} runs have "
                f"no {', '.join(missing)}); this version cannot rebuild its report: regenerate it with the "
                "code that made it (its page names the commit)."
            )


def _ms(values: list[float], digits: int = 3) -> str:
    """Mean ± sd over seeds (the value alone for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _locality_cell(rows: list[dict[str, Any]]) -> str:
    loc = [r["locality_ratio"] for r in rows if "locality_ratio" in r]
    finite = [v for v in loc if math.isfinite(v)]
    # NaN: resampling a code changed no pixel inside its patch (nor outside), so no ratio exists
    undefined = f" ({len(loc) - len(finite)} undefined)" if len(finite) < len(loc) else ""
    return (_ms(finite) if finite else "undefined") + undefined if loc else "—"


def write_report(payload: dict[str, Any], out: Path, name: str = "ldf") -> str:
    text = render(
        "ldf.md.j2", p=payload, name=name, **comparison_rows(payload),
        reading=(out / name / "reading.md").is_file(),  # a hand-written reading, kept beside the numbers
        param_share=PARAM_SHARE, steps_per_update=STEPS_PER_UPDATE, prior_std=1 / math.sqrt(3),
        ms=_ms, paired=paired, vs_fixed=vs_fixed, locality_cell=_locality_cell, mean=statistics.mean,
    )  # fmt: skip
    (out / f"{name}.md").write_text(text)
    return text


def run_cycle(args: argparse.Namespace) -> int:
    spec = spec_of(CycleSpec, args)
    out, loaded = Path(spec.out), []
    for name in (spec.with_name, spec.without_name):
        require_report_input(out / f"{name}.json", "ldf")
        loaded.append(json.loads((out / f"{name}.json").read_text())["results"])
    effects = {
        m: {k: paired(loaded[0][m], loaded[1][m], k) for k in CYCLE_METRICS}
        for m in ("decoupled", "joint", "reuse")
    }
    text = render(
        "ldf_cycle.md.j2", effects=effects, metrics=CYCLE_METRICS, with_name=spec.with_name,
        without_name=spec.without_name, command=command_line("rlcv bench ldf-cycle --report-only", spec),
    )  # fmt: skip
    write_page(out, "ldf_cycle", text)
    return 0
