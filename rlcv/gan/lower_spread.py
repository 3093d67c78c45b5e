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
"""

from __future__ import annotations

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
