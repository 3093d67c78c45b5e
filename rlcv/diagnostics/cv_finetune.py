"""A model loss aimed at what MBMF's control variate needs (issue 24, item 2): after the usual fit, Adam
steps on the state loss *plus* the λ-matched CV's own residual,

    L = L_state(3-step windows) + w · mean_t (Â_t − D^λ_t(a_t))² / Var(Â),

D^λ the model's imagined λ-weighted TD errors with the real future noises replayed (k = 16, the
estimator's ``imagined_d``), Â the GAE advantage of the checkpoint's critic, on the fit batches. The
state loss alone fits every state dimension alike; the CV reads the model only through D, and a model
with a *better* 16-step state error can give a worse D (results/mbmf_v4.md §2). w = 0 is the control:
the same extra steps on the state loss alone, with the same random batches and windows, so the two
rows differ by the CV term only.

Unbiasedness is untouched: the model is fitted on the fit batches and scored on other batches.
"""

from __future__ import annotations

from typing import Any

FINETUNE_LR = 1e-4  # 3·10⁻⁴ and 10⁻³ were tried first: the ratio fell, then rose again within 600 steps
WINDOW_BATCH = 256  # state-loss windows per step (the fit's model_batch_size)


def finetune(session: Any, model: Any, fit: list, *, steps: int, weight: float, horizon: int) -> None:
    """``steps`` Adam steps (lr :data:`FINETUNE_LR`, a fresh optimiser) of the loss above on ``model``, in
    place; each step one random fit batch for the CV term and :data:`WINDOW_BATCH` random
    ``horizon``-step windows for the state term (torch seed 0, so w = 0 draws what w > 0 draws)."""
    import torch

    from rlcv.diagnostics.cv_regression import split_cv
    from rlcv.dynamics import cut_windows

    est = split_cv(session, model, 16)
    transform = est.obs_transform()
    policy, value_fn = session.agent.policy, session.agent.value_fn
    with torch.no_grad():
        targets = []
        for b in fit:
            adv, _, values = est.baseline.gae(b, value_fn)
            targets.append((b, adv, values))
    data = {
        "obs": torch.cat([b.raw_obs for b in fit]),
        "actions": torch.cat([b.actions[:, :, 0] for b in fit]),
        "next_obs": torch.cat([b.raw_next_obs for b in fit]),
        "rewards": torch.cat([b.raw_rewards for b in fit]),
        "terminated": torch.cat([b.terminated for b in fit]),
        "done": torch.cat([b.dones for b in fit]),
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=FINETUNE_LR)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        b, adv, values = targets[int(torch.randint(len(targets), (1,), generator=gen))]
        w = cut_windows(data, WINDOW_BATCH, horizon, gen)
        loss, _ = model.unrolled_loss(w.obs, w.actions, w.next_obs, w.rewards, w.terminated, w.valid)
        if weight > 0:
            actions = b.actions[:, :, 0].to(torch.float32)
            d = est.imagined_d(b, policy, value_fn, actions, transform, est.cv_lambda, values)
            loss = loss + weight * (adv - d).pow(2).mean() / adv.var()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
