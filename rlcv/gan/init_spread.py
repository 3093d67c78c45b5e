"""How far apart a freshly initialised generator's latents start: the check behind ``out_init_gain``.

BGAN's self-normalised update with w = p/g is EM's M-step with the latents as mixture components
(``agents/bgan.py``, :func:`~agents.bgan.reinit_output_layer`), and EM started from identical
components stays symmetric. This measures, before any training, how different the latents'
distributions are at a given output-layer gain: the mean L1 distance between the *expected images*
of two latents (across) against the mean L1 distance between two images drawn for one latent
(within), next to the mean pairwise L1 of real training digits. No discriminator, no update.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

DRAWS = 256  # images per latent behind its expected image (identical latents still differ by the
# Monte-Carlo noise of the mean: gain 0's "across" is that floor)


def init_spread(env_id: str, gain: float, *, latents: int = 200, seed: int = 0) -> dict[str, float]:
    """Across- and within-latent L1 of the ``bgan`` preset's initial generator on ``env_id`` with
    ``out_init_gain = gain`` (0: the default init), over ``latents`` latents drawn from ``seed``."""
    import gymnasium as gym

    from rlcv.agents.bgan import BGAN
    from rlcv.config import build_config, preset

    env = gym.make(env_id)
    base: Any = env.unwrapped
    config = build_config(BGAN.config_cls, {**preset("bgan", env_id), "out_init_gain": float(gain)})
    torch.manual_seed(seed)
    agent = BGAN(observation_space=env.observation_space, action_space=env.action_space, config=config)
    z = np.random.default_rng(seed).uniform(-1, 1, (latents, base.latent_dim)).astype(np.float32)
    with torch.no_grad():
        draws = agent.policy.sample(torch.from_numpy(z), DRAWS).action  # [L, DRAWS, ...]
        images = base.to_image(agent.policy.env_action(draws.numpy())).numpy()
    expected = images.mean(1)  # the Monte-Carlo expected image of each latent
    return {
        "gain": float(gain),
        "across": _mean_pairwise_l1(expected),
        "within": float(np.abs(images[:, 0] - images[:, 1]).sum(-1).mean()),
    }


def real_pairwise_l1(env_id: str, n: int = 500) -> float:
    """Mean pairwise L1 of ``n`` training digits of ``env_id``'s representation."""
    import gymnasium as gym

    env: Any = gym.make(env_id).unwrapped
    return _mean_pairwise_l1(env.training_images()[:n])


def _mean_pairwise_l1(x: np.ndarray) -> float:
    d = np.abs(x[:, None] - x[None]).sum(-1)
    return float(d[np.triu_indices(len(x), 1)].mean())
