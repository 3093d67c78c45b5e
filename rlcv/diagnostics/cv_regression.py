"""How much of the advantage's variance the MBMF control variate's features remove when their weights are
fitted on one batch and applied to the next (held out), at a frozen checkpoint with a given model:
per-batch scores of the λ-matched CV with split η, and the features of several horizons as separate
regressors (one η per horizon block). Used by `rlcv bench model-diag`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

KS = (1, 2, 4, 8, 16)  # the horizons whose features the block diagnostic stacks

Features = Sequence[tuple[np.ndarray, np.ndarray]]  # per batch: advantages [n], feature columns [n, p]


def held_out_ratio(feats: Features, columns: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
    """Mean and standard error over consecutive batch pairs of Var(a₁ − X₁ β₀) / Var(a₁), β₀ the least
    squares fit of the centred a₀ on the centred columns of batch 0."""
    rs = []
    for (a0, x0), (a1, x1) in zip(feats[:-1], feats[1:], strict=True):
        x = columns(x0)
        coef = np.linalg.lstsq(x - x.mean(0), a0 - a0.mean(), rcond=None)[0]
        rs.append(np.var(a1 - columns(x1) @ coef, ddof=1) / np.var(a1, ddof=1))
    r = np.asarray(rs)
    return float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r)))


def block_columns(x: np.ndarray, upto: int) -> np.ndarray:
    """The first horizon's (D_a, D_τ), then the differences of consecutive horizons' D up to ``upto``
    (x holds the pairs of :data:`KS` side by side)."""
    cols = [x[:, 0], x[:, 1]]
    for j in range(1, upto):
        cols += [x[:, 2 * j] - x[:, 2 * j - 2], x[:, 2 * j + 1] - x[:, 2 * j - 1]]
    return np.stack(cols, 1)


def block_ratios(feats: Features) -> dict[str, tuple[float, float]]:
    """:func:`held_out_ratio` of each k's pair alone, of the blocks up to each k, and of all D_τ with
    D_a at the largest k."""

    def pair(i: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: x[:, 2 * i : 2 * i + 2]

    def blocks(upto: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda x: block_columns(x, upto)

    res = {f"k{k}_split": held_out_ratio(feats, pair(i)) for i, k in enumerate(KS)}
    for u in range(2, len(KS) + 1):
        res[f"blocks_to_k{KS[u - 1]}"] = held_out_ratio(feats, blocks(u))
    tau_only = [2 * j + 1 for j in range(len(KS))]
    res["all_ks_tau_only_plus_a16"] = held_out_ratio(feats, lambda x: x[:, [2 * (len(KS) - 1), *tau_only]])
    return res


def split_cv(session: Any, model: Any, k: int) -> Any:
    """The λ-matched CV with split η at horizon k, using ``model``, bound to the checkpoint's frozen
    normalisers (``session``: :func:`rlcv.diagnostics.checkpoint.load_session`)."""
    from rlcv.estimators.mbmf import MBMFControlVariate, MBMFSettings

    cfg = session.config
    est = MBMFControlVariate(
        MBMFSettings(k=k, eta_mode="split", trust_gate=False),
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        normalize_advantage=False,
        model=model,
    )
    norm, scale = session.obs_normalizer.torch_transform(), session.reward_scaler.scale()
    est.obs_transform = lambda: norm
    est.reward_scale = lambda: scale
    return est


def batch_parts(est: Any, batches: list[Any], policy: Any, value_fn: Any) -> list[tuple[Any, Any, Any]]:
    """Per batch: (Â, D_a, D_τ), flattened — computed once for every score below (the imagined rollouts
    are the expensive part)."""
    parts = []
    for b in batches:
        adv, _, values = est.baseline.gae(b, value_fn)
        d_a, d_tau, _ = est.features(b, policy, value_fn, values)
        parts.append((adv.reshape(-1), d_a.reshape(-1), d_tau.reshape(-1)))
    return parts


def split_eta_scores(parts: list[tuple[Any, Any, Any]]) -> np.ndarray:
    """Per batch of ``parts`` (:func:`batch_parts`) after the first, with (η_a, η_τ) fitted on the previous
    batch: [the score-term ratio
    Var(Â − η_a D_a − η_τ D_τ) / Var(Â), corr(Â, D_a + D_τ), η_a, η_τ] ([len(parts) − 1, 4])."""
    import torch

    from rlcv.estimators.mbmf import fit_split_eta

    rows, prev = [], None
    for a, da, dt in parts:
        if prev is not None:
            ea, et = prev
            r = ((a - ea * da - et * dt).var() / a.var()).item()
            corr = torch.corrcoef(torch.stack([a, da + dt]))[0, 1].item()
            rows.append((r, corr, ea, et))
        prev = fit_split_eta(a, da, dt)
    return np.array(rows)


def part_scores(parts: list[tuple[Any, Any, Any]]) -> np.ndarray:
    """Per batch after the first: the score-term ratio with D_τ alone and with D_a alone, each with its
    own η fitted on the previous batch ([len(parts) − 1, 2]). D_τ (the mean action's rollout along the
    real future noises) needs no pathwise term; D_a is the part that does."""
    import torch

    from rlcv.estimators.mbmf import fit_split_eta

    rows, prev = [], None
    for a, da, dt in parts:
        if prev is not None:
            tau_only, a_only = (a - prev[0] * dt).var() / a.var(), (a - prev[1] * da).var() / a.var()
            rows.append((tau_only.item(), a_only.item()))
        zeros = torch.zeros_like(dt)  # a zero column: its coefficient is 0 (minimum-norm least squares)
        prev = (fit_split_eta(a, zeros, dt)[1], fit_split_eta(a, da, zeros)[0])
    return np.array(rows)


def block_features(ests: dict[int, Any], batches: list[Any], policy: Any, value_fn: Any) -> list[Any]:
    """Per batch: (Â, the (D_a, D_τ) of every k in :data:`KS` side by side) as float64 arrays."""
    import torch

    feats = []
    for b in batches:
        adv, _, values = ests[KS[-1]].baseline.gae(b, value_fn)
        cols = []
        for k in KS:
            d_a, d_tau, _ = ests[k].features(b, policy, value_fn, values)
            cols += [d_a.reshape(-1), d_tau.reshape(-1)]
        feats.append((adv.reshape(-1).double().numpy(), torch.stack(cols, 1).double().numpy()))
    return feats
