r"""Does the LDF patch generator use its code? The check behind ``bgan-hier``'s ``lower_out_init_gain``.

The patch generator g(p | c) of the lower stage (:mod:`rlcv.gan.patches`) is a Bernoulli policy whose
output layer starts at gain 0.01: every code c then decodes to the same near-uniform patch, which is the
symmetric start that collapses flat BGAN (``results/bgan_collapse_digits4_init.md``). A lower stage
whose patches do not depend on c cannot be inverted by its encoder, and no higher stage can draw
digits through it (``results/ldf.md``: resampling a code moved no pixel).

:func:`code_spread` measures it in pixels of a 16-pixel patch, analytically from the pixel
probabilities (no Monte-Carlo floor): *across*, the mean L1 between the expected patches of two
different codes; *within*, the mean L1 between two patches drawn for one code (Σ_j 2 p_j (1 − p_j)).
:func:`init_spread` applies it to an untrained patch generator at a given output gain, and
:func:`real_patch_l1` gives the yardstick: the mean L1 between two real training patches.
:func:`lower_stage_scores` scores a trained lower stage (``rlcv bench ldf-lower``) and
:func:`lower_references` the rows it is read against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlcv.gan.patches import LowerStage

PAIRS = 200  # codes drawn per measurement; the all-pairs mean of 200 codes is stable to ~0.01 pixel


def code_spread(lower: LowerStage, *, codes: torch.Tensor | None = None, seed: int = 0) -> dict[str, float]:
    """``across`` / ``within`` L1 (module docstring) over ``codes`` [n, d], by default :data:`PAIRS`
    codes drawn from the prior U(−1, 1)^d the patch generator is trained on (``seed``)."""
    if codes is None:
        gen = torch.Generator().manual_seed(seed)
        codes = torch.rand(PAIRS, lower.code_dim, generator=gen) * 2 - 1
    with torch.no_grad():
        p = lower.patch_probs(codes).double()
    n = p.shape[0]
    dist = torch.cdist(p, p, p=1)
    across = float(dist.sum() / (n * (n - 1))) if n > 1 else 0.0
    within = float((2 * p * (1 - p)).sum(-1).mean())
    return {"across": across, "within": within}


def real_code_spread(lower: LowerStage, *, n: int = PAIRS, seed: int = 0) -> dict[str, float]:
    """:func:`code_spread` at the codes the encoder gives ``n`` real training patches: how far apart
    the patches are that a perfect higher stage would ask for."""
    from rlcv.envs.bgan_patches import digit_patches

    patches = digit_patches()["train"]
    pick = np.random.default_rng(seed).permutation(len(patches))[:n]
    with torch.no_grad():
        codes = lower.encode(torch.from_numpy(patches[pick]))
    return code_spread(lower, codes=codes)


def real_patch_l1(*, n: int = PAIRS, seed: int = 0) -> float:
    """Mean L1 between two of ``n`` real training patches (the spread a patch generator should reach)."""
    from rlcv.envs.bgan_patches import digit_patches

    patches = digit_patches()["train"]
    x = torch.from_numpy(patches[np.random.default_rng(seed).permutation(len(patches))[:n]]).double()
    return float(torch.cdist(x, x, p=1).sum() / (n * (n - 1)))


def init_spread(gain: float, *, seed: int = 0, config: dict[str, Any] | None = None) -> dict[str, float]:
    """:func:`code_spread` of the untrained patch generator that ``bgan-hier`` (its preset, or with
    ``config`` overrides) builds with ``lower_out_init_gain = gain`` (0: the policy's default init),
    through the agent's own path (:meth:`HierConfig.lower_config`, ``bgan-bigan``); networks from ``seed``."""
    import gymnasium as gym

    from rlcv.agents.bgan_hier import PATCH_ENV_ID, BGANBiGAN, HierConfig
    from rlcv.config import build_config, preset
    from rlcv.envs.bgan_patches import CODE_ENV_ID

    cfg = build_config(
        HierConfig, {**preset("bgan-hier", CODE_ENV_ID), **(config or {}), "lower_out_init_gain": float(gain)}
    )
    lower_cfg = cfg.lower_config(code_dim=8)  # the code env's default code_dim
    env = gym.make(PATCH_ENV_ID, **lower_cfg.env_kwargs)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        agent = BGANBiGAN(
            observation_space=env.observation_space, action_space=env.action_space, config=lower_cfg
        )
    env.close()
    return {"gain": float(gain), **code_spread(agent.lower, seed=seed)}


def lower_stage_scores(run_dir: Path, samples: bool = False) -> dict[str, float]:
    """A trained run's lower stage: its ceiling (training digits encoded and decoded as samples are,
    ``ceiling_*``) and inversion (:mod:`rlcv.gan.ldf_metrics`), and :func:`code_spread` of prior codes
    (``across_prior`` / ``within_prior``) and of real patches' codes (``*_real``); with ``samples``,
    also the decoupled generator's 1000 samples (``sample_*``: ``rlcv bench ldf``'s scores)."""
    from rlcv.gan.ldf_eval import EVAL_SAMPLES, EVAL_SEED, SAMPLE_KEYS, evaluate_generator
    from rlcv.gan.ldf_metrics import lower_stage_ceiling, lower_stage_diagnostics
    from rlcv.gan.patches import load_lower_stage

    lower = load_lower_stage(run_dir)
    prior, real = code_spread(lower, seed=EVAL_SEED), real_code_spread(lower, seed=EVAL_SEED)
    final = {
        **lower_stage_ceiling(lower, n=EVAL_SAMPLES, seed=EVAL_SEED),
        **lower_stage_diagnostics(lower),
        "across_prior": prior["across"],
        "within_prior": prior["within"],
        "across_real": real["across"],
        "within_real": real["within"],
    }
    if samples:
        scored = evaluate_generator(run_dir)
        final.update({f"sample_{k}": float(scored[k]) for k in SAMPLE_KEYS})
    return final


def lower_references(gains: tuple[float, ...]) -> dict[str, Any]:
    """Independent pixels and the real digits, scored as the ceilings are; the real patches' L1 and the
    untrained patch generator's :func:`init_spread` at each of ``gains``."""
    from rlcv.gan.ldf_eval import EVAL_SAMPLES, EVAL_SEED
    from rlcv.gan.ldf_metrics import real_reference

    real = real_reference(n=EVAL_SAMPLES, seed=EVAL_SEED)
    return {
        "independent": real["independent"],
        "real": {k: v for k, v in real.items() if k not in ("independent", "held_out")},
        "real_patch_l1": real_patch_l1(seed=EVAL_SEED),
        "init_spread": [init_spread(g, seed=EVAL_SEED) for g in gains],
    }
