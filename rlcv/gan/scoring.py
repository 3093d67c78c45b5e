"""Scoring digit generators — trained runs, their step checkpoints, and the density references — by
:func:`rlcv.envs.bgan_digits.score_digits` on fixed latents, so every row of a comparison is scored
by the same code on the same latents.

- :func:`score_policy` / :func:`score_checkpoint`: a generator's scores on the evaluation latents
  (seed :data:`EVAL_SEED`; the within-latent collapse check on seed ``EVAL_SEED + 1``).
- :func:`reference_rows`: ``real`` (real digits: the floor), ``independent`` (one distribution per
  pixel) and ``mixture`` (a product mixture with K chosen by validation likelihood), per seed.
- :func:`train_diagnostics`: a run's training diagnostics over its last 10 % of updates.
- :func:`save_sample_grid`, :func:`mode_range`: a final generator's 100 images; where a continuous
  generator's mode lies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rlcv.run_dir import RunDir

EVAL_SEED = 0
EVAL_EPISODES = 1000
REFERENCES = ("real", "independent", "mixture")
SEED_ROLES = {  # what each seed of a comparison seeds (`rlcv bench bgan` stores it in its JSON)
    "training": "each run's seed (rlcv train --seed): generator init, env RNG, discriminator init",
    "evaluation_latents": EVAL_SEED,
    "collapse_group_latents": EVAL_SEED + 1,
    "c2st_1nn_mmd_permutations": EVAL_SEED,
    "mixture_k_selection_split": 0,
    "reference_rows": "each row's seed: EM initialisation, pixel draws, the real-digit subset",
}
TRAIN_DIAGNOSTICS = ("log_w_mean", "log_w_var", "ess", "log_z", "entropy", "disc_real_acc", "disc_fake_acc")


def env_levels(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """Grey levels of a digits env (2 binary, 4, 0 continuous)."""
    from rlcv.env_factory import make_env

    env = make_env(env_id, env_kwargs)
    levels = int(env.unwrapped.levels)  # type: ignore[attr-defined]
    env.close()
    return levels


def train_diagnostics(run_dir: Path) -> dict[str, float]:
    """:data:`TRAIN_DIAGNOSTICS` averaged over the last 10 % of updates (single rows are noisy), and
    the number of updates."""
    rows = RunDir(run_dir).metrics_rows()
    tail = rows[-max(1, len(rows) // 10) :]
    out = {}
    for key in TRAIN_DIAGNOSTICS:
        values = [float(r[key]) for r in tail if r.get(key) not in (None, "")]
        out[key] = float(np.mean(values)) if values else math.nan
    out["updates"] = len(rows)
    return out


def score_policy(env: Any, policy: Any, normalizer: Any, against: str) -> dict[str, Any]:
    """``score_digits`` of ``policy`` on the evaluation latents, against ``against`` ('held-out' or
    'train')."""
    from rlcv.envs.bgan_digits import EVAL_GROUP_SIZE, EVAL_GROUPS, score_digits

    sample = env.generate(policy, env.eval_samples, seed=EVAL_SEED, obs_normalizer=normalizer)
    groups = env.generate(
        policy, EVAL_GROUPS, seed=EVAL_SEED + 1, obs_normalizer=normalizer, per_latent=EVAL_GROUP_SIZE
    )
    return score_digits(sample, groups, levels=env.levels, seed=EVAL_SEED, against=against)


def score_checkpoint(run_dir: Path, ckpt: Path, against: str) -> dict[str, Any]:
    """:func:`score_policy` of the generator saved in a step checkpoint of ``run_dir``."""
    from rlcv import checkpoint
    from rlcv.env_factory import make_env
    from rlcv.evaluation import load_policy

    meta, policy, normalizer = load_policy(run_dir)
    state = checkpoint.load(ckpt)
    policy.load_state_dict(state["agent"]["policy"])
    normalizer.load_state_dict(state["obs_normalizer"])
    env: Any = make_env(meta["env"], meta["config"].get("env_kwargs")).unwrapped
    try:
        return score_policy(env, policy, normalizer, against)
    finally:
        env.close()


def score_run(run_dir: Path, steps: Sequence[int], against: str) -> dict[str, Any]:
    """A run's scores at each of ``steps`` (its step checkpoints; the last is the final generator,
    ``last.pt``, saved after every update), with the updates and training seconds to reach them, its
    :func:`train_diagnostics` and its config."""
    from rlcv.errors import RlcvError

    run = RunDir(run_dir)
    walls = {int(float(r["step"])): float(r["time_elapsed"]) for r in run.metrics_rows()}
    cfg = run.read_meta()["config"]
    curve = []
    for i, step in enumerate(steps):
        ckpt = run.checkpoint() if i == len(steps) - 1 else run.step_checkpoint(step)
        if not ckpt.is_file():
            raise RlcvError(f"{ckpt} is missing; delete {run_dir} so the bench trains it again.")
        point = {"step": step, "updates": step // int(cfg["n_steps"]), "wall_seconds": walls[step]}
        curve.append({**point, **score_checkpoint(run_dir, ckpt, against)})
    return {
        "final": curve[-1],
        "curve": curve,
        "train": train_diagnostics(run_dir),
        "config": {k: cfg.get(k) for k in ("n_steps", "n_samples", "learning_rate", "adam_betas")},
        "env_kwargs": cfg.get("env_kwargs") or {},
    }


def save_sample_grid(run_dir: Path, path: Path) -> None:
    """100 images of the run's final generator, from the evaluation latents, as one grid (PNG)."""
    from rlcv.env_factory import make_env
    from rlcv.evaluation import load_policy
    from rlcv.gan.metrics import save_grid

    meta, policy, normalizer = load_policy(run_dir)
    env: Any = make_env(meta["env"], meta["config"].get("env_kwargs")).unwrapped
    try:
        save_grid(
            env.generate(policy, 100, seed=EVAL_SEED, obs_normalizer=normalizer).reshape(-1, 8, 8), path
        )
    finally:
        env.close()


def mode_range(run_dir: Path) -> tuple[float, float, float]:
    """(min, max, share in (0, 1)) of the final generator's mode on 1000 latents U(−1, 1)^32 (rng seed
    0): the Gaussian mean itself (clipped by the env) or, squashed, c + h tanh(mean)."""
    import torch

    from rlcv.evaluation import load_policy

    _, policy, _ = load_policy(run_dir)
    z = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1000, 32)).astype(np.float32))
    with torch.no_grad():
        mu = policy.mode(z)
    return float(mu.min()), float(mu.max()), float(((mu > 0) & (mu < 1)).float().mean())


def reference_rows(
    levels: int, against: str, seeds: Iterable[int], latent_dim: int, grids: Path
) -> dict[str, Any]:
    """The reference rows of every seed (EM, pixel draws and the real subset seeded by it), how K was
    chosen, and the labeller's coverage on the compared real images; the first seed's 100-image grids
    go to ``grids/NAME.png``."""
    from rlcv.envs.bgan_digits import comparison_split, digit_classifier, digits
    from rlcv.gan.density_baselines import select_components
    from rlcv.gan.metrics import confident_coverage

    x_train = digits(levels)["x_train"]
    k, val_ll = select_components(x_train, levels=levels, seed=0)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in REFERENCES}
    for i, seed in enumerate(seeds):
        for name, row in _seed_rows(levels, against, seed, latent_dim, k, grids if i == 0 else None).items():
            rows[name].append(row)
    # The labeller was fitted on the training digits, so on them it is over-confident; the labels it
    # gives the comparison images (held-out by default) are the real digits' reference for coverage.
    reference, _ = comparison_split(levels, against)
    labeller = confident_coverage(digit_classifier(levels)[0].predict_proba(reference))
    return {"k": k, "validation_log_likelihood": val_ll, "rows": rows, "labeller_on_reference": labeller}


def _seed_rows(
    levels: int, against: str, seed: int, latent_dim: int, k: int, grids: Path | None
) -> dict[str, dict[str, Any]]:
    """One seed's ``real``, ``independent`` (K = 1) and ``mixture`` (K = ``k``) rows."""
    from rlcv.envs.bgan_digits import EVAL_GROUP_SIZE, EVAL_GROUPS, comparison_split, digits, score_digits
    from rlcv.gan.density_baselines import fit_mixture
    from rlcv.gan.metrics import save_grid

    x_train = digits(levels)["x_train"]
    _, other_real = comparison_split(levels, against)
    z = np.random.default_rng(EVAL_SEED).uniform(-1.0, 1.0, (EVAL_EPISODES, latent_dim))
    z_groups = np.random.default_rng(EVAL_SEED + 1).uniform(-1.0, 1.0, (EVAL_GROUPS, latent_dim))
    rng = np.random.default_rng(seed)
    real = other_real[rng.permutation(len(other_real))[:EVAL_EPISODES]]
    out = {
        "real": {
            "seed": seed,
            "final": score_digits(real, None, levels=levels, seed=EVAL_SEED, against=against),
        }
    }
    for name, n_comp in (("independent", 1), ("mixture", k)):
        model = fit_mixture(x_train, levels=levels, k=n_comp, seed=seed)
        sample = model.sample_from_latents(z, rng)
        groups = model.sample_from_latents(z_groups, rng, EVAL_GROUP_SIZE)
        scores = score_digits(sample, groups, levels=levels, seed=EVAL_SEED, against=against)
        out[name] = {"seed": seed, "k": n_comp, "final": scores}
        if grids is not None:
            save_grid(sample[:100].reshape(-1, 8, 8), grids / f"{name}.png")
    if grids is not None:
        save_grid(real[:100].reshape(-1, 8, 8), grids / "real.png")
    return out
