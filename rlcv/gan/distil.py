"""Distilling a product mixture into a generator network: can the network BGAN trains represent the
mixture that beats it? (``rlcv bench bgan-capacity``.)

The network (the BGAN preset's Bernoulli MLP, same sizes, init and Adam settings) is regressed onto a
K-component Bernoulli mixture's pixel probabilities: each step draws 64 × 20 fresh latents, assigns
each a component, and minimises the cross-entropy between σ(f_θ(z)) and that component's p_k — one
BGAN update's latents and images, with the answer given instead of a discriminator's weights. Which
latents go to which component is free (any assignment with cell masses π gives the mixture):
``quantile`` — the mixture's own sampler, k from z[0] by inverse CDF; ``linear`` — k = argmax_k
(a_k·z + b_k), b set by :func:`linear_cells` so the cells' masses match π.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LATENTS, M = 64, 20  # one BGAN update's latents and images per latent (rlcv/presets/bgan.yaml)


def linear_cells(weights: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(a [K, 32], b [K], largest |cell mass − π_k|): b by fixed-point steps on 100k latents."""
    rng = np.random.default_rng(2000 + seed)
    a = rng.standard_normal((len(weights), 32))
    scores = rng.uniform(-1.0, 1.0, (100_000, 32)) @ a.T
    b = np.zeros(len(weights))
    for _ in range(150):
        mass = np.bincount((scores + b).argmax(1), minlength=len(weights)) / len(scores)
        b += 0.5 * (np.log(weights) - np.log(np.maximum(mass, 1e-6)))
    mass = np.bincount((scores + b).argmax(1), minlength=len(weights)) / len(scores)
    return a, b, float(np.abs(mass - weights).max())


def _assignment(mix: Any, variant: str, seed: int) -> tuple[Callable[[np.ndarray], np.ndarray], float]:
    """Latents → components, and the largest cell-mass error (0 for the mixture's own sampler)."""
    if variant != "linear":
        return (lambda z: mix.components_of((z[:, 0].astype(np.float64) + 1.0) / 2.0)), 0.0
    a, b, error = linear_cells(mix.weights, seed)
    return (lambda z: (z.astype(np.float64) @ a.T + b).argmax(1)), error


def distil(seed: int, variant: str, checkpoints: Sequence[int], k: int) -> dict[str, Any]:
    """Regress the preset's generator network onto seed ``seed``'s K = ``k`` mixture of the binary
    digits; :func:`rlcv.gan.scoring.score_policy` (held-out images) at each of ``checkpoints`` steps."""
    import torch

    from rlcv.env_factory import make_env
    from rlcv.envs.bgan_digits import BGANDigitsEnv, digits
    from rlcv.gan.density_baselines import fit_mixture
    from rlcv.gan.scoring import score_policy
    from rlcv.policies import BernoulliPolicy

    torch.manual_seed(seed)
    env = make_env("rlcv/BGAN-Digits-v0", {"disc_batch_size": 128}).unwrapped
    assert isinstance(env, BGANDigitsEnv)
    mix = fit_mixture(digits(2)["x_train"], levels=2, k=k, seed=seed)
    assert mix.probs is not None
    component, mass_error = _assignment(mix, variant, seed)
    target = torch.as_tensor(mix.probs[:, :, 1], dtype=torch.float32)  # [K, 64] P(pixel on)
    policy = BernoulliPolicy(32, 64, hidden_sizes=[256, 256], activation="relu", ortho_init=True)
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3, betas=(0.5, 0.999))
    rng = np.random.default_rng(1000 + seed)
    points, start = [], time.perf_counter()
    for step in range(1, checkpoints[-1] + 1):
        z = rng.uniform(-1.0, 1.0, (LATENTS * M, 32)).astype(np.float32)
        p = target[component(z)]
        logits = policy.logits_net(torch.from_numpy(z))
        # Cross-entropy to the soft targets = KL(p_k ‖ σ(f)) + H(p_k): its excess over H is the error.
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, p, reduction="none").sum(-1)
        entropy = -(p * p.clamp_min(1e-12).log() + (1 - p) * (1 - p).clamp_min(1e-12).log()).sum(-1)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        if step in checkpoints:
            seconds = time.perf_counter() - start
            scores = score_policy(env, policy, None, "held-out")
            kl = float((loss - entropy).mean().detach())
            points.append({"steps": step, "train_seconds": seconds, "kl_nats_per_image": kl, **scores})
            print(f"{variant} seed {seed} step {step}: KL {kl:.3f} nats, C2ST {scores['c2st_accuracy']:.3f}")
            start = time.perf_counter()
    env.close()
    return {"seed": seed, "cell_mass_error": mass_error, "curve": points}


def distil_seeds(variant: str, seeds: Sequence[int], checkpoints: Sequence[int], k: int) -> dict[str, Any]:
    """:func:`distil` on each of ``seeds`` (a picklable task: ``rlcv bench bgan-capacity`` runs one per
    assignment ``variant``)."""
    return {
        "k": k,
        "checkpoints": list(checkpoints),
        "runs": [distil(s, variant, checkpoints, k) for s in seeds],
    }
