r"""The perfect-model ceiling of the k-step control variate, from real batches and no model (the
ceiling columns of `rlcv bench variance`).

With a perfect model of a deterministic simulator, replaying the real future noises reproduces the
real trajectory, so C_t(a_t) is the real k-step return

    G_t^(k) = Σ_{i<h} γ^i r_{t+i} + γ^h V(s_{t+h}),   D_t = G_t^(k) − V(s_t) = Σ_{i<h} γ^i δ_{t+i},

with h = min(k, steps to the batch end, steps to the episode end) — the cuts the estimator makes (a
time limit bootstraps, a termination ends the sum: δ there has no bootstrap term; the model's p̂_continue
is 0 there). δ_t = r_t + γ(1 − term_t) V(s'_t) − V(s_t) in the estimator's units (scaled rewards,
normalised observations). The advantage is Â_t = Σ_i (γλ)^i δ_{t+i} (GAE, cut at episode and batch end),
so even a perfect model leaves the *structural* residual Â − ηD: GAE weights the TD errors by (γλ)^i,
the CV by γ^i, and only over h ≤ k steps. The λ-weighted D^λ = Σ_{i<h} (γλ)^i δ_{t+i} removes the first
mismatch, leaving only the truncation at k.

Per batch and per (k, D kind, η mode) we return Var(Â − ηD) / Var(Â) with η = 1 (``fixed``) or
η = Cov(Â, D) / Var(D) (``fitted``, = 1 − corr(Â, D)²) — the model-free analogue of the estimator's
``cv_score_var_ratio``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from rlcv.rollout import RolloutBatch
    from rlcv.value import ValueFunction

D_KINDS = ("gamma", "lambda")  # D = Σ γ^i δ (the current CV with a perfect model), D^λ = Σ (γλ)^i δ


def windowed_sum(deltas: torch.Tensor, dones: torch.Tensor, k: int, weight: float) -> torch.Tensor:
    """Σ_{i<h_t} weight^i δ_{t+i} for every t ([T, N]); the window ends after a done step and at T."""
    import torch

    T = deltas.shape[0]
    total = torch.zeros_like(deltas)
    alive = torch.ones_like(dones)
    idx = torch.arange(T)
    for i in range(k):
        src = (idx + i).clamp(max=T - 1)
        valid = alive & (idx + i < T)[:, None]
        total = total + deltas[src] * (weight**i) * valid  # deltas first: keep their dtype
        alive = valid & ~dones[src]
    return total


def score_var_ratio(adv: np.ndarray, d: np.ndarray, eta_mode: str) -> float:
    """Var(Â − ηD) / Var(Â) over one batch (flattened); η = 1 or the fitted Cov(Â, D) / Var(D)."""
    var_a = adv.var(ddof=1)
    if var_a == 0:
        return 1.0
    if eta_mode == "fixed":
        eta = 1.0
    elif eta_mode == "fitted":
        var_d = d.var(ddof=1)
        eta = float(np.cov(adv, d)[0, 1] / var_d) if var_d > 0 else 0.0
    else:
        raise ValueError(f"eta_mode must be fixed or fitted, got {eta_mode!r}")
    return float((adv - eta * d).var(ddof=1) / var_a)


def ceiling_ratios(
    batch: RolloutBatch,
    value_fn: ValueFunction,
    *,
    gamma: float,
    gae_lambda: float,
    ks: list[int],
    eta_modes: list[str],
) -> dict[tuple[int, str, str], float]:
    """{(k, D kind, η mode): Var(Â − ηD) / Var(Â)} for one batch (k = 0: D = 0, ratio 1)."""
    import torch

    from rlcv.rollout import compute_gae

    with torch.no_grad():
        values = value_fn(batch.obs).double()
        next_values = value_fn(batch.next_obs).double()
    rewards = batch.rewards.double()
    deltas, _ = compute_gae(
        rewards, values, next_values, batch.terminated, batch.truncated, gamma=gamma, gae_lambda=0.0
    )
    adv, _ = compute_gae(
        rewards, values, next_values, batch.terminated, batch.truncated, gamma=gamma, gae_lambda=gae_lambda
    )
    dones = batch.terminated | batch.truncated
    a = adv.reshape(-1).numpy()
    out = {}
    for k in ks:
        for kind in D_KINDS:
            d = windowed_sum(deltas, dones, k, gamma if kind == "gamma" else gamma * gae_lambda)
            flat = d.reshape(-1).numpy()
            for mode in eta_modes:
                out[(k, kind, mode)] = 1.0 if k == 0 else score_var_ratio(a, flat, mode)
    return out


def ceiling_table(
    batches: list[RolloutBatch],
    value_fn: ValueFunction,
    *,
    gamma: float,
    gae_lambda: float,
    ks: list[int],
    eta_modes: list[str],
) -> dict[tuple[int, str, str], np.ndarray]:
    """:func:`ceiling_ratios` of every batch: {(k, D kind, η mode): [ratio per batch]}."""
    per_batch = [
        ceiling_ratios(b, value_fn, gamma=gamma, gae_lambda=gae_lambda, ks=ks, eta_modes=eta_modes)
        for b in batches
    ]
    return {key: np.array([p[key] for p in per_batch]) for key in per_batch[0]}
