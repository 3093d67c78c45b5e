"""Evaluating two-level (locally disentangled) and flat digit generators from their run folders
(``rlcv bench ldf``): the generator at its final policy or a step checkpoint, its
:mod:`rlcv.gan.ldf_metrics` on fixed latents (cached per run), where a run stood at a wall-clock budget
and several methods compared at equal wall-clock, the trainable parameters of each stage as the
presets build them, sample / patch-resampling grids, and a two-level method against the issue's
targets (:func:`stage_targets`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir

FLAT_ENV, CODE_ENV = "rlcv/BGAN-Digits-v0", "rlcv/BGAN-DigitCodes-v0"
EVAL_SEED, EVAL_SAMPLES = 0, 1000
# The metrics of an LDF comparison's tables, in column order
KEYS = (
    "c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "confident_share", "unique_fraction",
    "seam_discontinuity",
)  # fmt: skip
SAMPLE_KEYS = ("c2st_accuracy", "nn1_accuracy", "mmd2", "confident_coverage", "seam_discontinuity")
# Names what produced a cached evaluation: one made by other metric code is redone, never reused.
EVAL_VERSION = "score_digits+seam+locality+ceiling"


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


def run_times(run_dir: Path) -> list[tuple[int, float]]:
    return [(int(float(r["step"])), float(r["time_elapsed"])) for r in RunDir(run_dir).metrics_rows()]


def wall_checkpoint(run_dir: Path, times: list[tuple[int, float]], budget: float) -> tuple[int, Path | None]:
    """The last step checkpoint written at or before ``budget`` seconds (None: the final policy)."""
    if times[-1][1] <= budget:
        return times[-1][0], None
    run = RunDir(run_dir)
    saved = [(s, t) for s, t in times if t <= budget and run.step_checkpoint(s).is_file()]
    if not saved:
        raise RlcvError(f"'{run_dir}' saved no checkpoint within {budget:.1f} s; raise --checkpoints.")
    return saved[-1][0], run.step_checkpoint(saved[-1][0])


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


def save_grids(run_dir: Path, stem: str, folder: Path, *, resample: bool = True) -> list[str]:
    """Samples of a run (100) and, for two-level runs with ``resample``, the resampling grid: 10 samples
    (columns); row 1 as generated, then for each patch k two rows with only code k replaced by the code k
    of another sample (pixel uniforms fixed), so only region k may change."""
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
    if not resample:
        return names
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


def cached_evaluation(path: Path, train_args: list[str], compute: Any) -> dict[str, Any]:
    """``compute()`` (an evaluation of a run made with ``train_args``) saved at ``path``; redone when the
    file is missing, unreadable, of a run made with other train arguments or made by other metric code
    (:data:`EVAL_VERSION`), so a rerun never reuses a stale number."""
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


def equal_wall_clock(
    results: dict[str, list[dict[str, Any]]], timed: tuple[str, ...], seeds: int, evals: Path
) -> dict[str, list[dict[str, Any]]]:
    """The ``timed`` methods compared at equal wall-clock: per seed 0..``seeds``−1 the budget is the
    shortest training time among them, and each run is evaluated (:func:`evaluate_generator`, cached
    under ``evals``) at its last step checkpoint within that budget — or marked ``no_samples`` where a
    two-level run was still in its lower stage then. ``results``: per method, each run's record (its
    ``seed``, ``run_dir``, ``times`` from :func:`run_times`, ``final`` evaluation and train ``args``)."""
    wall: dict[str, list[dict[str, Any]]] = {}
    timed = tuple(m for m in timed if m in results)
    for s in range(seeds):
        rows = {m: next(r for r in results[m] if r["seed"] == s) for m in timed}
        budget = min(r["times"][-1][1] for r in rows.values())
        for m, r in rows.items():
            step, ckpt = wall_checkpoint(Path(r["run_dir"]), [tuple(t) for t in r["times"]], budget)
            if in_lower_stage(Path(r["run_dir"]), step):
                wall.setdefault(m, []).append(
                    {"seed": s, "budget_seconds": budget, "step": step, "no_samples": True}
                )
                continue
            name = f"{m}_s{s}_wall{step}"
            ev = (
                r["final"]
                if ckpt is None
                else cached_evaluation(
                    evals / f"{name}.json",
                    r["args"],
                    lambda r=r, ckpt=ckpt: evaluate_generator(Path(r["run_dir"]), ckpt),
                )
            )
            wall.setdefault(m, []).append({"seed": s, "budget_seconds": budget, "step": step, **ev})
    return wall


# The targets for a two-level generator, against the real held-out digits
SEAM_TOLERANCE, CONFIDENT_TOLERANCE, LOCALITY_MAX = 0.20, 0.10, 0.05


def stage_targets(finals: list[dict[str, Any]], real: dict[str, Any]) -> dict[str, Any]:
    """A two-level method's seam discontinuity, confident share and locality ratio (its runs' final
    evaluations) against the real digits' (``real_reference``'s held-out row): the means, how far off,
    and whether each target is met (locality: the largest finite ratio over seeds)."""
    import math
    import statistics

    ref = real.get("held_out", real)
    seam = statistics.mean(r["seam_discontinuity"] for r in finals)
    conf = statistics.mean(r["confident_share"] for r in finals)
    finite = [r["locality_ratio"] for r in finals if math.isfinite(r["locality_ratio"])]
    loc = max(finite) if finite else math.nan  # NaN: resampling a code changed no pixel inside its patch
    off = abs(seam - ref["seam_discontinuity"]) / ref["seam_discontinuity"]
    return {
        "seam": seam, "seam_real": ref["seam_discontinuity"], "off": off, "seam_ok": off <= SEAM_TOLERANCE,
        "conf": conf, "conf_real": ref["confident_share"],
        "conf_ok": abs(conf - ref["confident_share"]) <= CONFIDENT_TOLERANCE,
        "loc": loc, "loc_ok": bool(loc <= LOCALITY_MAX), "finite": len(finite), "n": len(finals),
        "outside": max(r.get("locality_changed_outside", math.nan) for r in finals),
    }  # fmt: skip


def comparison_rows(payload: dict[str, Any]) -> dict[str, Any]:
    """What an LDF comparison (``rlcv bench ldf``'s JSON) is read by: each method's final evaluations
    (``finals``, a record per seed), its runs evaluated at equal wall-clock (``scored``: a two-level run
    still in its lower stage then has no samples and is left out), the methods with lower-stage
    diagnostics (``lower``) and ceilings (``ceiling``, over ``ceiling_keys``), each run's training
    seconds, and each two-level method against the targets (``stages``, :func:`stage_targets`)."""
    finals = {m: [{"seed": r["seed"], **r["final"]} for r in rows] for m, rows in payload["results"].items()}
    scored = {m: [r for r in rows if not r.get("no_samples")] for m, rows in payload["wall"].items()}
    lower = {m: rs for m, rs in finals.items() if rs and "reconstruction_error" in rs[0]}
    ceiling = {m: rs for m, rs in lower.items() if "ceiling_c2st_accuracy" in rs[0]}
    return {
        "finals": finals,
        "scored": {m: rows for m, rows in scored.items() if rows},
        "lower": lower,
        "ceiling": ceiling,
        "ceiling_keys": [k for k in KEYS if ceiling and f"ceiling_{k}" in [*ceiling.values()][0][0]],
        "seconds": {
            m: [r["summary"].get("wall_seconds") or r["times"][-1][1] for r in rows]
            for m, rows in payload["results"].items()
        },
        "stages": {
            m: stage_targets(finals[m], payload["real_reference"])
            for m in ("decoupled", "joint", "reuse")
            if m in finals
        },
    }
