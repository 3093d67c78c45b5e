"""`rlcv bench ldf`: locally disentangled two-level generators vs flat BGAN on 8×8 binary digits.

Methods (every run a plain ``rlcv train`` in its own process, one thread, launched by
:mod:`rlcv.bench.runs`: finished runs and per-run summaries are reused, so the bench resumes):

==============  =================================================================================
``flat``        ``--algo bgan`` on ``rlcv/BGAN-Digits-v0``: U generator updates
``decoupled``   ``--algo bgan-hier --set mode=decoupled lower_updates=U/2``: U/2 lower-stage updates,
                then U/2 higher-stage updates with the lower stage frozen
``joint``       ``--algo bgan-hier --set mode=joint``: U/2 updates, each one step of both generators
``reuse``       ``--algo bgan-hier`` with ``--env-kwargs {lower: <decoupled seed 0>}``: U/2 higher
                updates on seed 0's lower stage, seeds 1..N−1 (one lower stage, many higher seeds)
==============  =================================================================================

So flat, decoupled and joint make the same number of generator updates (U; an update = one Adam
step of one generator network), and the decoupled and joint stages each get U/2. Seeds are paired
(seed s of every method). Equal wall-clock: for each seed, T* = the shortest training time among
flat, decoupled and joint (the run's own ``time_elapsed``), and each of them is evaluated at its last
step checkpoint (every U/``--checkpoints`` updates) written before T*.

Every generator is evaluated on the same 1000 latents (seed 0) by :mod:`rlcv.gan.ldf_metrics`: the BGAN
issue's metrics through :func:`rlcv.envs.bgan_digits.score_digits` (C2ST, 1-NN and MMD² vs the 450
held-out digits, confident class coverage and confident share, unique fraction), plus seam
discontinuity, and the locality ratio for the two-level ones. Outputs: ``OUT/NAME.md``,
``OUT/NAME.json``, ``OUT/NAME/`` (per-run training summaries ``summaries/*.json``, per-run
evaluations ``evals/*.json``, PNG grids).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

from rlcv.bench.report import met
from rlcv.bench.runs import RunJob, read_summary, train_or_fail, write_summary
from rlcv.bench.stats import Interval, mean_t, paired_t
from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir

METHODS = ("flat", "decoupled", "joint", "reuse")
TIMED = ("flat", "decoupled", "joint")  # methods whose wall-clock includes every stage they train
FLAT_ENV, CODE_ENV = "rlcv/BGAN-Digits-v0", "rlcv/BGAN-DigitCodes-v0"
STEPS_PER_UPDATE = 64  # n_steps of every preset involved (latents per update)
EVAL_SEED, EVAL_SAMPLES = 0, 1000
LABELS = {
    "flat": "flat BGAN (`bgan`, BGAN-Digits-v0)",
    "decoupled": "decoupled two-level (`bgan-hier`, mode=decoupled)",
    "joint": "joint two-level (`bgan-hier`, mode=joint)",
    "reuse": "decoupled, seed 0's lower stage reused",
}
SEAM_TOLERANCE, CONFIDENT_TOLERANCE, LOCALITY_MAX, PARAM_SHARE = 0.20, 0.10, 0.05, 0.5
# Names what produced a cached evaluation: one made by other metric code is redone, never reused.
EVAL_VERSION = "score_digits+seam+locality+ceiling"


# -- the runs ------------------------------------------------------------------------------------
def _method_dir(args: argparse.Namespace, method: str) -> str:
    """Runs of the two-level methods made with ``--hier-set`` go to their own folders (the flat runs,
    identical, are shared), e.g. ``decoupled+recon_weight=1.0``."""
    return method if method == "flat" or not args.hier_overrides else "+".join([method, *args.hier_overrides])


def _job(args: argparse.Namespace, method: str, seed: int, runs: Path, summaries: Path) -> RunJob:
    u = args.updates
    if method == "flat":
        algo, env, updates, extra = "bgan", FLAT_ENV, u, []
    elif method == "decoupled":
        algo, env, updates, extra = "bgan-hier", CODE_ENV, u, ["mode=decoupled", f"lower_updates={u // 2}"]
    else:  # joint, reuse
        algo, env, updates, extra = (
            "bgan-hier",
            CODE_ENV,
            u // 2,
            [f"mode={'joint' if method == 'joint' else 'decoupled'}"],
        )
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


def _jobs(args: argparse.Namespace, runs: Path, summaries: Path) -> dict[str, list[RunJob]]:
    out: dict[str, list[RunJob]] = {}
    for method in args.methods:
        seeds = range(1, args.seeds) if method == "reuse" else range(args.seeds)
        out[method] = [_job(args, method, s, runs, summaries) for s in seeds]
    return out


# -- evaluation -----------------------------------------------------------------------------------
def generator_at(run_dir: Path, checkpoint_path: Path | None = None) -> tuple[Any, Any, Any]:
    """(unwrapped env with the run's learned state, generator policy, obs normaliser) from the final
    policy file, or from a step checkpoint."""
    from rlcv import checkpoint
    from rlcv.agents import agent_class, build_agent_config
    from rlcv.env_factory import make_env
    from rlcv.normalize import ObsNormalizer

    run = RunDir(run_dir)
    meta = run.read_meta()
    cfg = meta["config"]
    env: Any = make_env(meta["env"], cfg.get("env_kwargs")).unwrapped
    agent = agent_class(meta["algo"])(
        observation_space=env.observation_space,
        action_space=env.action_space,
        config=build_agent_config(meta["algo"], cfg),
    )
    norm = ObsNormalizer(env.observation_space.shape, enabled=cfg["normalize_obs"], clip=cfg["clip_obs"])
    if checkpoint_path is None:
        final = run.final_policy
        if final is None:
            raise RlcvError(f"'{run_dir}' has no final policy; rerun `rlcv bench ldf` to finish it.")
        state = checkpoint.load(final)
        policy_state, norm_state, env_state = state["policy"], state["obs_normalizer"], state.get("env_state")
    else:
        state = checkpoint.load(checkpoint_path)
        policy_state, norm_state = state["agent"]["policy"], state["obs_normalizer"]
        env_state = (state["collector"].get("env_states") or [None])[0]
    agent.policy.load_state_dict(policy_state)
    norm.load_state_dict(norm_state)
    norm.training = False
    if env_state is not None:
        env.load_state_dict(env_state)
    return env, agent.policy, norm


def evaluate_generator(run_dir: Path, checkpoint_path: Path | None = None) -> dict[str, Any]:
    """:func:`rlcv.gan.ldf_metrics.image_metrics` of 1000 samples (+ locality for two-level runs)."""
    from rlcv.gan.ldf_metrics import (
        image_metrics,
        locality_ratio,
        lower_stage_ceiling,
        lower_stage_diagnostics,
    )

    env, policy, norm = generator_at(run_dir, checkpoint_path)
    out: dict[str, Any] = {}
    if hasattr(env, "generate_codes"):  # two-level: decode the higher generator's codes
        codes = env.generate_codes(policy, EVAL_SAMPLES, seed=EVAL_SEED, obs_normalizer=norm)
        images = env.decode(codes, seed=EVAL_SEED)
        out.update(locality_ratio(env.lower, codes, seed=EVAL_SEED))
        out.update(lower_stage_diagnostics(env.lower))
        if checkpoint_path is None:  # the final lower stage's bound (a checkpoint's is not reported)
            out.update(lower_stage_ceiling(env.lower, n=EVAL_SAMPLES, seed=EVAL_SEED))
    else:
        images = env.generate(policy, EVAL_SAMPLES, seed=EVAL_SEED, obs_normalizer=norm)
    out.update(image_metrics(images, seed=EVAL_SEED))
    return out


def in_lower_stage(run_dir: Path, step: int) -> bool:
    """Whether a two-level run was still training its lower stage at ``step`` (metrics column
    ``stage`` = 1): a decoupled generator has no higher stage yet, so it has no samples to score."""
    for row in RunDir(run_dir).metrics_rows():
        if int(float(row["step"])) == step:
            return row.get("stage") not in (None, "") and float(row["stage"]) == 1
    return False


def _times(run_dir: Path) -> list[tuple[int, float]]:
    return [(int(float(r["step"])), float(r["time_elapsed"])) for r in RunDir(run_dir).metrics_rows()]


def _cached(path: Path, train_args: list[str], compute: Any) -> dict[str, Any]:
    """An evaluation saved at ``path``, redone when it is missing, unreadable, of a run made with
    other train arguments or made by other metric code (:data:`EVAL_VERSION`), so a rerun never
    reuses a stale number."""
    try:
        saved = json.loads(path.read_text())
        if saved["train_args"] == train_args and saved.get("eval_version") == EVAL_VERSION:
            return dict(saved["value"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    record = {"train_args": train_args, "eval_version": EVAL_VERSION, "value": value}
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return dict(value)


def _wall_checkpoint(run_dir: Path, times: list[tuple[int, float]], budget: float) -> tuple[int, Path | None]:
    """The last step checkpoint written at or before ``budget`` seconds (None: the final policy)."""
    if times[-1][1] <= budget:
        return times[-1][0], None
    run = RunDir(run_dir)
    saved = [(s, t) for s, t in times if t <= budget and run.step_checkpoint(s).is_file()]
    if not saved:
        raise RlcvError(f"'{run_dir}' saved no checkpoint within {budget:.1f} s; raise --checkpoints.")
    return saved[-1][0], run.step_checkpoint(saved[-1][0])


# -- parameters -----------------------------------------------------------------------------------
def parameter_counts() -> dict[str, int]:
    """Trainable parameters of each stage as the presets build them (flat: generator + discriminator)."""
    from rlcv.agents import agent_class, build_agent_config
    from rlcv.config import preset
    from rlcv.env_factory import make_env
    from rlcv.envs.bgan_patches import PATCH_ENV_ID
    from rlcv.gan.patches import LowerStage, count_parameters, lower_spec

    def agent_and_env(algo: str, env_id: str) -> tuple[Any, Any]:
        env: Any = make_env(env_id).unwrapped
        config = build_agent_config(algo, preset(algo, env_id))
        agent = agent_class(algo)(
            observation_space=env.observation_space, action_space=env.action_space, config=config
        )
        return agent, env

    flat, flat_env = agent_and_env("bgan", FLAT_ENV)
    hier, code_env = agent_and_env("bgan-hier", CODE_ENV)
    lower_cfg = hier.config.lower_config(hier.code_dim)
    lower = LowerStage.from_spec(
        lower_spec(
            code_dim=hier.code_dim,
            generator_hidden_sizes=lower_cfg.hidden_sizes,
            encoder_hidden_sizes=lower_cfg.encoder_hidden_sizes,
            activation=lower_cfg.activation,
        )
    )
    patch_env: Any = make_env(PATCH_ENV_ID, lower_cfg.env_kwargs).unwrapped
    counts = {
        "flat_generator": count_parameters(flat.policy),
        "flat_discriminator": count_parameters(flat_env.disc),
        "lower_generator": count_parameters(lower.generator),
        "lower_encoder": count_parameters(lower.encoder),
        "lower_discriminator": count_parameters(patch_env.disc.net),
        "higher_generator": count_parameters(hier.policy),
        "higher_discriminator": count_parameters(code_env.disc.net),
    }
    counts["flat"] = counts["flat_generator"] + counts["flat_discriminator"]
    counts["stage1"] = counts["lower_generator"] + counts["lower_encoder"] + counts["lower_discriminator"]
    counts["stage2"] = counts["higher_generator"] + counts["higher_discriminator"]
    counts["joint"] = counts["stage1"] + counts["stage2"]
    return counts


# -- grids ------------------------------------------------------------------------------------------
def save_grids(run_dir: Path, stem: str, folder: Path) -> list[str]:
    """Samples of a run (100) and, for two-level runs, the resampling grid: 10 samples (columns);
    row 1 as generated, then for each patch k two rows with only code k replaced by the code k of
    another sample (pixel uniforms fixed), so only region k may change."""
    import torch

    from rlcv.gan.metrics import save_grid
    from rlcv.gan.patches import N_PATCHES

    env, policy, norm = generator_at(run_dir)
    names = [f"{stem}.png"]
    if not hasattr(env, "generate_codes"):
        save_grid(
            env.generate(policy, 100, seed=EVAL_SEED, obs_normalizer=norm).reshape(-1, 8, 8),
            folder / names[0],
        )
        return names
    codes = env.generate_codes(policy, 100, seed=EVAL_SEED, obs_normalizer=norm)
    save_grid(env.decode(codes, seed=EVAL_SEED).reshape(-1, 8, 8), folder / names[0])
    base, d = codes[:10], env.code_dim
    uniforms = torch.rand(10, 64, generator=torch.Generator().manual_seed(EVAL_SEED))
    rows = [base]
    for k in range(N_PATCHES):
        for donor_row in (1, 2):
            new = base.reshape(10, N_PATCHES, d).clone()
            new[:, k] = codes[10 * donor_row : 10 * donor_row + 10].reshape(10, N_PATCHES, d)[:, k]
            rows.append(new.reshape(10, -1))
    with torch.no_grad():
        images = torch.cat([env.lower.decode(r, uniforms) for r in rows]).numpy()
    names.append(f"{stem}_resample.png")
    save_grid(images.reshape(-1, 8, 8), folder / names[1])
    return names


# -- the bench --------------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    """Add ``rlcv bench ldf`` to the bench subparsers."""
    from rlcv.bench.checks import int_range, out_dir, positive_int, seed_count
    from rlcv.cli_args import add_overrides_argument

    p = sub.add_parser("ldf", help="two-level (decoupled / joint) generators vs flat BGAN on binary digits")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", type=seed_count, default=5, help="paired seeds 0..N-1")
    p.add_argument(
        "--updates", type=int_range(2), default=1000, help="total generator updates U of flat/decoupled/joint"
    )
    p.add_argument(
        "--checkpoints", type=positive_int, default=10, help="step checkpoints per run (equal wall-clock)"
    )
    p.add_argument(
        "--workers", type=positive_int, default=1, help="concurrent runs (default 1: the machine is shared)"
    )
    add_overrides_argument(p, help="config overrides for every run (keys all three agents accept)")
    p.add_argument(
        "--hier-set",
        dest="hier_overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for the two-level runs only (e.g. recon_weight=1.0); they get own run folders",
    )
    p.add_argument(
        "--out", type=out_dir, default="results", help="writes OUT/NAME.md, OUT/NAME.json, OUT/NAME/"
    )
    p.add_argument("--name", default="ldf", help="file stem of the outputs")
    p.add_argument("--runs", type=out_dir, default="runs/bench-ldf", help="where the run directories go")
    p.add_argument("--report-only", action="store_true", help="rebuild OUT/NAME.md from OUT/NAME.json")
    p.add_argument(
        "--refresh-references",
        action="store_true",
        help="with --report-only: recompute the reference rows (real digits, independent pixels; no runs "
        "needed) into OUT/NAME.json first",
    )
    p.set_defaults(bench_run=run)


def run(args: argparse.Namespace) -> int:
    if args.report_only:
        path = Path(args.out) / f"{args.name}.json"
        if not path.is_file():
            raise RlcvError(f"{path} not found; run `rlcv bench ldf` first.")
        payload = json.loads(path.read_text())
        check_payload(payload, path)
        if getattr(args, "refresh_references", False):
            from rlcv.gan.ldf_metrics import real_reference

            payload["real_reference"] = real_reference(n=EVAL_SAMPLES, seed=EVAL_SEED)
            path.write_text(json.dumps(payload, indent=1))
        print(write_report(payload, Path(args.out), args.name))
    else:
        main(args)
    return 0


def _evaluate_runs(jobs: dict[str, list[RunJob]], evals: Path) -> dict[str, list[dict[str, Any]]]:
    """Each finished run's final evaluation (cached under ``evals``) and training summary."""
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in jobs}
    for method, js in jobs.items():
        for job in js:
            seed = int(job.name.rsplit("_s", 1)[1])
            cached = _cached(
                evals / f"{job.name}.json",
                job.train_args,
                lambda job=job: {"final": evaluate_generator(job.run_dir), "times": _times(job.run_dir)},
            )
            if job.summary is not None and not job.has_summary():  # a finished run another report made
                write_summary(job)
            summary = read_summary(job.summary) if job.summary is not None else {}
            results[method].append(
                {
                    "seed": seed,
                    "run_dir": str(job.run_dir),
                    **cached,
                    "summary": summary,
                    "args": job.train_args,
                }
            )
            print(f"{job.name}: C2ST {cached['final']['c2st_accuracy']:.3f}", flush=True)
    return results


def _wall_results(
    results: dict[str, list[dict[str, Any]]], seeds: int, evals: Path
) -> dict[str, list[dict[str, Any]]]:
    """Equal wall-clock: per seed, the shortest training time among the timed methods; each run at its
    last checkpoint within it."""
    wall: dict[str, list[dict[str, Any]]] = {}
    timed = [m for m in TIMED if m in results]
    for s in range(seeds):
        rows = {m: next(r for r in results[m] if r["seed"] == s) for m in timed}
        budget = min(r["times"][-1][1] for r in rows.values())
        for m, r in rows.items():
            step, ckpt = _wall_checkpoint(Path(r["run_dir"]), [tuple(t) for t in r["times"]], budget)
            if in_lower_stage(Path(r["run_dir"]), step):
                wall.setdefault(m, []).append(
                    {"seed": s, "budget_seconds": budget, "step": step, "no_samples": True}
                )
                continue
            name = f"{m}_s{s}_wall{step}"
            ev = (
                r["final"]
                if ckpt is None
                else _cached(
                    evals / f"{name}.json",
                    r["args"],
                    lambda r=r, ckpt=ckpt: evaluate_generator(Path(r["run_dir"]), ckpt),
                )
            )
            wall.setdefault(m, []).append({"seed": s, "budget_seconds": budget, "step": step, **ev})
    return wall


def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.seeds < 1 or args.updates < 2 or args.checkpoints < 1 or args.workers < 1:
        raise RlcvError("--seeds, --checkpoints and --workers must be >= 1 and --updates >= 2.")
    if "reuse" in args.methods and ("decoupled" not in args.methods or args.seeds < 2):
        raise RlcvError("method reuse needs method decoupled (its seed 0 lower stage) and --seeds >= 2.")
    command = shlex.join(["rlcv", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else "rlcv bench ldf"
    out = Path(args.out)
    folder = out / args.name
    runs, summaries, evals = Path(args.runs), folder / "summaries", folder / "evals"
    folder.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(args, runs, summaries)
    train_or_fail([j for m, js in jobs.items() if m != "reuse" for j in js], args.workers)
    if "reuse" in jobs:  # after decoupled seed 0 has its lower stage
        train_or_fail(jobs["reuse"], args.workers)

    results = _evaluate_runs(jobs, evals)
    wall = _wall_results(results, args.seeds, evals)

    from rlcv.gan.ldf_metrics import real_reference
    from rlcv.gan.metrics import save_grid

    grids = {
        m: save_grids(Path(rows[0]["run_dir"]), f"{m}_s{rows[0]['seed']}", folder)
        for m, rows in results.items()
        if rows
    }
    real = real_reference(n=EVAL_SAMPLES, seed=EVAL_SEED)
    from rlcv.envs.bgan_digits import digits

    save_grid(digits(2)["x_held_out"][:100].reshape(-1, 8, 8), folder / "real.png")
    payload = {
        "command": command,
        "seeds": args.seeds,
        "updates": args.updates,
        "overrides": args.overrides,
        "hier_overrides": args.hier_overrides,
        "runs_root": str(runs),
        "results": results,
        "wall": wall,
        "params": parameter_counts(),
        "real_reference": real,
        "grids": grids,
    }
    (out / f"{args.name}.json").write_text(json.dumps(payload, indent=1))
    report = write_report(payload, out, args.name)
    print(report)
    return payload


# -- the report -------------------------------------------------------------------------------------
def _ms(values: list[float], digits: int = 3) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _ci(ci: Interval) -> str:
    return ci.fmt("+.3f")


def _paired(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> Interval:
    """Paired t interval of ``key``, a − b, over the seeds both hold."""
    by_seed = {r["seed"]: r[key] for r in b}
    pairs = [(r[key], by_seed[r["seed"]]) for r in a if r["seed"] in by_seed]
    return paired_t([x for x, _ in pairs], [y for _, y in pairs])


COLUMNS = (  # (key, header, digits) of the metric tables
    ("c2st_accuracy", "C2ST ↓", 3),
    ("nn1_accuracy", "1-NN ↓", 3),
    ("mmd2", "MMD² ↓", 3),
    ("confident_coverage", "confident classes ↑", 1),
    ("confident_share", "confident share", 3),
    ("unique_fraction", "unique fraction", 3),
    ("seam_discontinuity", "seam discontinuity", 3),
)


def check_payload(payload: dict[str, Any], path: Path) -> None:
    """``--report-only`` on a JSON written by an older bench (issue 16 changed the metrics): one error
    line naming what is missing, not a KeyError from the middle of the report."""
    need = {key for key, _, _ in COLUMNS}
    for method, rows in (payload.get("results") or {}).items():
        missing = sorted({key for r in rows for key in need - set(r.get("final") or {})})
        if missing:
            raise RlcvError(
                f"--report-only: {path} was written by an older `rlcv bench ldf` (its {method} runs have "
                f"no {', '.join(missing)}); this version cannot rebuild its report: regenerate it with the "
                "code that made it (its page names the commit)."
            )


def _metric_table(by_method: dict[str, list[dict[str, Any]]], real: dict[str, Any] | None) -> list[str]:
    lines = [
        "| method | " + " | ".join(h for _, h, _ in COLUMNS) + " | locality ratio |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for m, rows in by_method.items():
        loc = [r["locality_ratio"] for r in rows if "locality_ratio" in r]
        finite = [v for v in loc if math.isfinite(v)]
        # NaN: resampling a code changed no pixel inside its patch (nor outside), so no ratio exists
        undefined = f" ({len(loc) - len(finite)} undefined)" if len(finite) < len(loc) else ""
        loc_cell = (_ms(finite) if finite else "undefined") + undefined if loc else "—"
        cells = [LABELS[m], *(_ms([r[k] for r in rows], d) for k, _, d in COLUMNS), loc_cell]
        lines.append("| " + " | ".join(cells) + " |")
    if real is not None:
        has = "independent" in real
        trivial = [("independent pixels (trivial reference)", real["independent"])] if has else []
        for label, ref in (
            ("real training digits (floor of the two-sample metrics)", real),
            ("real held-out digits (the targets' yardstick, vs training digits)", real["held_out"]),
            *trivial,
        ):
            lines.append("| " + " | ".join([label, *(f"{ref[k]:.{d}f}" for k, _, d in COLUMNS), ""]) + " |")
    return lines


def _params_table(p: dict[str, int]) -> list[str]:
    def share(key: str) -> str:
        return f"{100 * p[key] / p['flat']:.0f} %"

    return [
        "## Trainable parameters",
        "",
        "| what | parameters | share of flat G + D |",
        "|---|---|---|",
        f"| flat generator + discriminator | {p['flat']:,} ({p['flat_generator']:,} + "
        f"{p['flat_discriminator']:,}) | 100 % |",
        f"| stage 1: patch generator + encoder + pair discriminator | {p['stage1']:,} "
        f"({p['lower_generator']:,} + {p['lower_encoder']:,} + {p['lower_discriminator']:,}) "
        f"| {share('stage1')} |",
        f"| stage 2: code generator + code discriminator (lower frozen) | {p['stage2']:,} "
        f"({p['higher_generator']:,} + {p['higher_discriminator']:,}) | {share('stage2')} |",
        f"| joint: both stages at once | {p['joint']:,} | {share('joint')} |",
        "",
    ]


def _lower_table(finals: dict[str, list[dict[str, Any]]]) -> list[str]:
    rows = {m: rs for m, rs in finals.items() if rs and "reconstruction_error" in rs[0]}
    if not rows:
        return []
    lines = [
        "## The lower stage",
        "",
        (
            "How far the patch encoder inverts the patch generator: held-out digits encoded patch by patch "
            "and decoded with each pixel's mode (wrong pixels: reconstruction error; 0 is perfect, the "
            "all-blank image scores the ink share, 0.32), and the mean per-dimension spread of those real "
            f"codes (the codes the higher stage must learn) against the prior's {1 / math.sqrt(3):.3f}."
        ),
        "",
        "| method | reconstruction error | real code std |",
        "|---|---|---|",
    ]
    for m, rs in rows.items():
        err = " / ".join(f"{r['reconstruction_error']:.3f}" for r in rs)
        spread = " / ".join(f"{r['code_std']:.3f}" for r in rs)
        lines.append(f"| {m} | {err} | {spread} |")
    ceiling = {m: rs for m, rs in rows.items() if "ceiling_c2st_accuracy" in rs[0]}
    if ceiling:
        keys = [(k, h, d) for k, h, d in COLUMNS if f"ceiling_{k}" in ceiling[next(iter(ceiling))][0]]
        lines += [
            "",
            (
                "The lower stage's ceiling: 1000 training digits encoded patch by patch and decoded as "
                "generated samples are (pixels drawn, not their mode), scored like them: what a *perfect* "
                "higher stage would reach through this lower stage (mean ± sd over seeds)."
            ),
            "",
            "| lower stage of | " + " | ".join(h for _, h, _ in keys) + " |",
            "|---" * (len(keys) + 1) + "|",
        ]
        for m, rs in ceiling.items():
            cells = [_ms([r[f"ceiling_{k}"] for r in rs], d) for k, _, d in keys]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _paired_table(by_method: dict[str, list[dict[str, Any]]], keys: tuple[str, ...]) -> list[str]:
    heads = {"c2st_accuracy": "C2ST", "nn1_accuracy": "1-NN", "mmd2": "MMD²"}
    heads |= {"confident_coverage": "confident classes", "confident_share": "confident share"}
    lines = [
        "Paired differences (method − flat, same seed), mean and 95 % t interval:",
        "",
        "| method | " + " | ".join(f"Δ {heads[k]}" for k in keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for m, rows in by_method.items():
        if m not in ("flat", "reuse"):
            cells = [_ci(_paired(rows, by_method["flat"], k)) for k in keys]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]


LOWER_ONLY = " (lower stage only: no samples yet)"
PAIRED_KEYS = ("c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share")


def _intro_lines(payload: dict[str, Any], out: Path, name: str) -> list[str]:
    """The title, the pilot warning (fewer than 5 seeds) and the link to a hand-written reading."""
    n, u = payload["seeds"], payload["updates"]
    lines = [
        "# Locally disentangled latent factors: two-level generators vs flat BGAN (8×8 binary digits)",
        "",
    ]
    if n < 5:
        lines += [
            (
                f"> **PILOT** ({n} seed{'s' if n > 1 else ''}, U = {u} generator updates): it proves the "
                "pipeline end to end; with so few seeds the intervals are wide and no target can be called "
                "met or missed. The ≥ 5-seed run is still to do."
            ),
            "",
        ]
    if (out / name / "reading.md").is_file():  # a hand-written reading of the numbers, kept beside them
        lines += [
            f"What these numbers say, and what they do not: [`{name}/reading.md`]({name}/reading.md).",
            "",
        ]
    return lines


def _updates_section(payload: dict[str, Any], finals: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The protocol paragraph and the metrics at equal generator updates (paired against flat)."""
    res, u = payload["results"], payload["updates"]
    seconds = {
        m: [r["summary"].get("wall_seconds") or r["times"][-1][1] for r in rows] for m, rows in res.items()
    }
    lines = [
        (
            f"U = {u} generator updates (64 latents × M = 20 samples each). `flat`: U updates of the flat "
            f"generator. `decoupled`: {u // 2} lower-stage updates (patch generator + encoder, a BiGAN on "
            f"(patch, code) pairs), frozen, then {u // 2} higher-stage updates (code generator, continuous "
            f"BGAN). `joint`: {u // 2} updates of both at once. `reuse`: {u // 2} higher-stage updates on "
            "seed 0's frozen lower stage (seeds 1..N−1). Presets `rlcv/presets/bgan.yaml` and "
            "`bgan-hier.yaml`; seeds paired; every run evaluated on the same 1000 latents (seed 0)."
            + (
                f" Two-level runs with `--set {' '.join(payload['hier_overrides'])}`."
                if payload.get("hier_overrides")
                else ""
            )
        ),
        "",
        "## At equal generator updates",
        "",
        *_metric_table(finals, payload["real_reference"]),
        "",
        (
            "Mean ± sd over seeds. Every metric but the seam is the BGAN issue's, computed by the same "
            "code (`rlcv.envs.bgan_digits.score_digits`, as `results/bgan.md`): C2ST (random forest), 1-NN "
            "and MMD² against the 450 held-out digits (0.5 / 0: indistinguishable); confident classes: "
            "classes with ≥ 2 % of all samples labelled with probability ≥ 0.9 by the env's SVM; confident "
            "share: the fraction so labelled; unique fraction: distinct images among the 1000. Seam "
            "discontinuity: mean |Δ| of the 16 pixel pairs across patch seams. Training seconds per run "
            "(wall, whole process): " + ", ".join(f"{m} {_ms(v, 1)}" for m, v in seconds.items()) + "."
        ),
        "",
    ]
    if "flat" in finals:
        lines += _paired_table(finals, PAIRED_KEYS)
    return lines


def _wall_section(
    wall: dict[str, list[dict[str, Any]]], scored: dict[str, list[dict[str, Any]]]
) -> list[str]:
    """The metrics at equal wall-clock: each run at its last checkpoint within the per-seed budget."""
    if not wall:
        return []
    first = next(iter(wall.values()))
    budgets = ", ".join(f"seed {r['seed']}: {r['budget_seconds']:.1f} s" for r in first)
    reached = "; ".join(
        f"{m} "
        + " / ".join(
            f"{r['step'] // STEPS_PER_UPDATE}{LOWER_ONLY if r.get('no_samples') else ''}" for r in rows
        )
        for m, rows in wall.items()
    )
    lines = [
        "## At equal wall-clock",
        "",
        (
            f"Per seed, the budget is the shortest in-process training time of flat / decoupled / joint "
            f"({budgets}); each run is evaluated at its last checkpoint within it (loop updates reached, "
            f"per seed: {reached}). Wall-clock on a shared machine is noisy."
        ),
        "",
        *_metric_table(scored, None),
        "",
    ]
    if "flat" in scored:
        lines += _paired_table(scored, PAIRED_KEYS)
    return lines


def _samples_lines(payload: dict[str, Any], name: str) -> list[str]:
    lines = ["", "## Samples (first seed of each method, 100 each; real: held-out digits)", ""]
    for m, names in payload["grids"].items():
        lines += [LABELS[m], "", f"![{m}]({name}/{names[0]})", ""]
        if len(names) > 1:
            lines += [
                (
                    "One patch code resampled, the others and the pixel uniforms fixed: columns are 10 "
                    "samples, row 1 as generated, rows 2–3 replace the top-left code, 4–5 top-right, 6–7 "
                    "bottom-left, 8–9 bottom-right (donor codes from other samples)."
                ),
                "",
                f"![{m} resampled]({name}/{names[1]})",
                "",
            ]
    return [*lines, "Real held-out digits:", "", f"![real]({name}/real.png)", ""]


def _regenerate_lines(payload: dict[str, Any], name: str) -> list[str]:
    return [
        "## Regenerate",
        "",
        "```bash",
        payload["command"],
        "```",
        "",
        (
            f"Raw numbers: `{name}.json`; per-run training summaries `{name}/summaries/`, evaluations "
            f"`{name}/evals/`. Runs under `{payload['runs_root']}/` (`rlcv eval RUN_DIR` reprints a "
            "two-level run's metrics)."
        ),
    ]


def write_report(payload: dict[str, Any], out: Path, name: str = "ldf") -> str:
    res, wall, real = payload["results"], payload["wall"], payload["real_reference"]
    finals = {m: [{"seed": r["seed"], **r["final"]} for r in rows] for m, rows in res.items()}
    scored = {m: [r for r in rows if not r.get("no_samples")] for m, rows in wall.items()}
    scored = {m: rows for m, rows in scored.items() if rows}
    lines = [*_intro_lines(payload, out, name), *_updates_section(payload, finals)]
    lines += _wall_section(wall, scored)
    lines += _lower_table(finals)
    lines += _params_table(payload["params"])
    lines += _targets(finals, payload["params"], real, payload["seeds"] < 5, scored)
    lines += ["", f"Every figure of this page regenerates with `{payload['command']}`."]
    lines += _samples_lines(payload, name)
    lines += _regenerate_lines(payload, name)
    text = "\n".join(lines) + "\n"
    (out / f"{name}.md").write_text(text)
    return text


def _verdict(ci: Interval, lower_is_better: bool = True) -> str:
    """Verdict of a paired difference (method − flat) from its 95 % interval."""
    lo, hi = (ci.low, ci.high) if lower_is_better else (-ci.high, -ci.low)
    if ci.n < 2:
        return "undetermined (one seed)" if ci.n else "undetermined (no paired seed)"
    if hi < 0:
        return "met (better, interval excludes 0)"
    if lo > 0:
        return "missed (worse, interval excludes 0)"
    return "not shown (interval contains 0)"


def _paired_targets(by_method: dict[str, list[dict[str, Any]]], when: str) -> list[str]:
    lines = []
    for key, label, lower in (
        ("c2st_accuracy", "two-sample (C2ST) accuracy", True),
        ("nn1_accuracy", "1-NN accuracy", True),
        ("confident_coverage", "confident class coverage", False),
    ):
        if key not in by_method["decoupled"][0]:
            continue
        ci = _paired(by_method["decoupled"], by_method["flat"], key)
        lines.append(
            f"- {when}: decoupled at least as good as flat on {label}: **{_verdict(ci, lower)}** "
            f"(Δ decoupled − flat {_ci(ci)})."
        )
    return lines


def _targets(
    finals: dict[str, list[dict[str, Any]]],
    params: dict[str, int],
    real: dict[str, Any],
    pilot: bool,
    wall: dict[str, list[dict[str, Any]]] | None = None,
) -> list[str]:
    lines = ["## Targets of the issue" + (" (pilot: indicative only)" if pilot else ""), ""]
    if "decoupled" in finals and "flat" in finals:
        lines += _paired_targets(finals, "equal updates")
        if wall and "decoupled" in wall and "flat" in wall:
            lines += _paired_targets(wall, "equal wall-clock")
    peak, flat = max(params["stage1"], params["stage2"]), params["flat"]
    lines.append(
        "- peak trainable parameters of either stage ≤ 50 % of flat G + D: "
        f"{met(peak <= PARAM_SHARE * flat)} "
        f"({peak:,} = {100 * peak / flat:.0f} %; joint training holds {100 * params['joint'] / flat:.0f} %)."
    )
    if "reuse" in finals:
        k = len(finals["reuse"])
        lines.append(
            f"- one lower stage reused unchanged by ≥ 2 higher-level seeds: {met(k + 1 >= 2)} (decoupled "
            f"seed 0 and {k} reuse seed{'s' if k != 1 else ''} train their higher stage on the same frozen "
            "lower stage)."
        )
    ref = real.get("held_out", real)
    seam_real, conf_real = ref["seam_discontinuity"], ref["confident_share"]
    for m in ("decoupled", "joint", "reuse"):
        if m not in finals:
            continue
        rows = finals[m]
        seam = statistics.mean(r["seam_discontinuity"] for r in rows)
        conf = statistics.mean(r["confident_share"] for r in rows)
        finite = [r["locality_ratio"] for r in rows if math.isfinite(r["locality_ratio"])]
        loc = max(finite) if finite else math.nan  # NaN: no pixel changed inside either
        outside = max(r.get("locality_changed_outside", math.nan) for r in rows)
        off = abs(seam - seam_real) / seam_real
        lines.append(
            f"- {m}: seam discontinuity within 20 % of real {met(off <= SEAM_TOLERANCE)} ({seam:.3f} vs "
            f"{seam_real:.3f}, {100 * off:.0f} % off); confident share within 10 points of real "
            f"{met(abs(conf - conf_real) <= CONFIDENT_TOLERANCE)} ({conf:.3f} vs {conf_real:.3f}); locality "
            f"ratio ≤ 0.05 {met(bool(loc <= LOCALITY_MAX))} (max over seeds {loc:.3f}, over "
            f"{len(finite)} of {len(rows)} seeds where a resampled code changed its own patch; pixels "
            f"changed outside the patch per sample, max over seeds: {outside:.3f})."
        )
    lines += _trivial_target(finals, real)
    if "flat" in finals:
        rows = finals["flat"]
        lines.append(
            f"- flat BGAN for comparison: seam {statistics.mean(r['seam_discontinuity'] for r in rows):.3f}, "
            f"confident share {statistics.mean(r['confident_share'] for r in rows):.3f}."
        )
    return lines


def _trivial_target(finals: dict[str, list[dict[str, Any]]], real: dict[str, Any]) -> list[str]:
    """Decoupled ahead of independent pixels (issue 29): the per-seed C2ST minus the trivial row's
    (one fixed reference, so a one-sample t-interval over seeds)."""
    if "independent" not in real or "decoupled" not in finals:
        return []
    ref = real["independent"]["c2st_accuracy"]
    ci = mean_t([r["c2st_accuracy"] - ref for r in finals["decoupled"]])
    return [
        f"- decoupled ahead of independent pixels on C2ST (interval below 0): {met(ci.high < 0, ci.high)} "
        f"(decoupled − independent {ci.fmt('+.3f')}; independent pixels {ref:.3f})."
    ]
