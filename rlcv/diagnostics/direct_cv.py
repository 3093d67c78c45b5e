"""The control variate without a dynamics model, as a reference for the model's worth (issue 24): a
network G(s_t, a_t, ξ_{t+1}, …, ξ_{t+K}) regressed directly on the GAE advantage Â_t of the fit batches.

Any such G is a valid MBMF-style control variate: the real future noises are independent of ξ_t, so
D_a = G(s, a, ξ_f) − G(s, μ̄(s), ξ_f) needs the pathwise correction and D_τ = G(s, μ̄(s), ξ_f) none
(estimators/mbmf.py). The dynamics model is one way to build G — composed from one-step predictions,
16 rollout steps deep; this is the other, one regression of a 135-dimensional input (HalfCheetah, K =
16) on one number per sample. Scored like the model variants: split η fitted on batch t, the
score-term ratio on batch t + 1 (:func:`score_batches`). K = 0 is a plain critic of (s, a).
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH = 256
DIRECT_KS = (0, 4, 16)  # a critic of (s, a) alone; a short and the model's whole horizon
DIRECT_STEPS, DIRECT_WIDTH = 3000, 256  # the model variants' Adam budget; width as PPO's networks


def inputs(batch: Any, k: int, policy: Any, value_fn: Any, gae: Any) -> tuple[Any, ...]:
    """(normalised obs [n, S], actions [n, A], mean actions [n, A], future noises and their masks
    [n, K·A + K], Â [n]) of one batch; noises past the batch's end are 0 with mask 0 (where D's
    rollouts stop too)."""
    import torch

    T, N = batch.n_steps, batch.n_envs
    noise = batch.noise[:, :, 0].to(torch.float32)
    fut = torch.zeros(T, N, k, noise.shape[-1])
    mask = torch.zeros(T, N, k)
    for i in range(1, min(k, T - 1) + 1):
        fut[: T - i, :, i - 1] = noise[i:]
        mask[: T - i, :, i - 1] = 1
    with torch.no_grad():
        adv, _, _ = gae(batch, value_fn)
        obs = batch.obs.reshape(T * N, -1).to(torch.float32)
        mean = policy.action_from_noise(obs, torch.zeros(T * N, noise.shape[-1]))
    actions = batch.actions[:, :, 0].reshape(T * N, -1).to(torch.float32)
    futures = torch.cat([fut.reshape(T * N, -1), mask.reshape(T * N, -1)], -1)
    return obs, actions, mean, futures, adv.reshape(-1).to(torch.float32)


def fit_direct(fit: list[tuple[Any, ...]], *, steps: int, width: int, lr: float = 1e-3) -> Any:
    """G fitted by Adam (cosine to 0) on random minibatches of the pooled fit samples (torch seed 0);
    returns G as a function (obs, actions, futures) -> predicted Â."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    obs, act, _, fut, adv = (torch.cat([f[i] for f in fit]) for i in range(5))
    a_mean, a_std, y_std = act.mean(0), act.std(0) + 1e-6, adv.std()
    net = nn.Sequential(
        nn.Linear(obs.shape[1] + act.shape[1] + fut.shape[1], width),
        nn.SiLU(),
        nn.Linear(width, width),
        nn.SiLU(),
        nn.Linear(width, 1),
    )

    def g(o: Any, a: Any, f: Any) -> Any:
        return net(torch.cat([o, (a - a_mean) / a_std, f], -1)).squeeze(-1) * y_std

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = torch.randint(0, len(adv), (BATCH,))
        loss = (g(obs[idx], act[idx], fut[idx]) - adv[idx]).pow(2).mean() / y_std**2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    return g


def score_batches(g: Any, evals: list[tuple[Any, ...]]) -> tuple[float, float]:
    """Mean ± standard error over consecutive batch pairs of the split-η score-term ratio."""
    import torch

    from rlcv.estimators.mbmf import fit_split_eta

    rows, prev = [], None
    with torch.no_grad():
        for obs, act, mean, fut, adv in evals:
            g_mean = g(obs, mean, fut)
            d_a, d_tau = g(obs, act, fut) - g_mean, g_mean
            if prev is not None:
                rows.append(((adv - prev[0] * d_a - prev[1] * d_tau).var() / adv.var()).item())
            prev = fit_split_eta(adv, d_a, d_tau)
    r = np.asarray(rows)
    return float(r.mean()), float(r.std(ddof=1) / np.sqrt(len(r)))


def direct_ratios_at(
    run: str,
    checkpoint: str,
    ks: tuple[int, ...] = DIRECT_KS,
    steps: int = DIRECT_STEPS,
    width: int = DIRECT_WIDTH,
) -> dict[str, Any]:
    """Per K in ``ks``: G fitted on the checkpoint's fit batches, scored on its evaluation batches (the
    same data as the model variants of :mod:`.model_fit`)."""
    from rlcv.diagnostics.model_fit import checkpoint_data
    from rlcv.estimators.state_baseline import StateValueBaseline

    session, fit, evals = checkpoint_data(run, checkpoint)
    cfg, policy, value_fn = session.config, session.agent.policy, session.agent.value_fn
    gae = StateValueBaseline(gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, normalize_advantage=False).gae
    ratios = {}
    for k in ks:
        fit_in = [inputs(b, k, policy, value_fn, gae) for b in fit]
        eval_in = [inputs(b, k, policy, value_fn, gae) for b in evals]
        ratios[f"K = {k}"] = score_batches(fit_direct(fit_in, steps=steps, width=width), eval_in)
    return {"direct_steps": steps, "direct_width": width, "ratios": ratios}
