"""Diagnostic: does a TD-error-aware model loss make the λ-matched CV track Â better? (issue 11)"""

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rlcv.bench.variance import collect_batches, load_session, model_errors
from rlcv.dynamics import EnsembleDynamics, TDLoss, TransitionReplay, train_dynamics
from rlcv.estimators.mbmf import MBMFControlVariate, MBMFSettings, fit_split_eta

torch.set_num_threads(1)
run, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
variants = [v.split(":") for v in sys.argv[4:]]  # name:td_weight:horizon:steps
meta, session = load_session(Path(run), ckpt, 0)
cfg = session.config
policy, value_fn = session.agent.policy, session.agent.value_fn
norm = session.obs_normalizer.torch_transform()
scale = session.reward_scaler.scale()
steps = cfg.n_steps
fit_batches = collect_batches(session, 30000 // steps, steps)
evals = collect_batches(session, 21, steps)
space = session.envs.single_action_space
obs_dim = session.envs.single_observation_space.shape[0]
frozen_v = copy.deepcopy(value_fn).requires_grad_(False)
results = json.load(open(out)) if Path(out).exists() else {}
for name, w, h, n in variants:
    if name in results:
        continue
    w, h, n = float(w), int(h), int(n)
    torch.manual_seed(0)
    model = EnsembleDynamics(
        obs_dim,
        space.shape[0],
        ensemble_size=5,
        hidden_sizes=[128, 128],
        action_low=space.low,
        action_high=space.high,
    )
    replay = TransitionReplay(30000)
    for b in fit_batches:
        replay.add_batch(b)
    td = (
        TDLoss(value=lambda s: frozen_v(norm(s)).reshape(-1), gamma=cfg.gamma, reward_scale=scale, weight=w)
        if w > 0
        else None
    )
    t0 = time.perf_counter()
    train_dynamics(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5),
        replay,
        steps=n,
        batch_size=256,
        horizon=h,
        td=td,
    )
    t_fit = time.perf_counter() - t0
    est = MBMFControlVariate(
        MBMFSettings(k=16, eta_mode="split", trust_gate=False),
        gamma=cfg.gamma,
        gae_lambda=cfg.gae_lambda,
        normalize_advantage=False,
        model=model,
    )
    est.obs_transform = lambda: norm
    est.reward_scale = lambda: scale
    rows, prev = [], None
    for b in evals:
        adv, _, values = est.baseline.gae(b, value_fn)
        d_a, d_tau, _ = est.features(b, policy, value_fn, values)
        a, da, dt = adv.reshape(-1), d_a.reshape(-1), d_tau.reshape(-1)
        if prev is not None:
            ea, et = prev
            r = ((a - ea * da - et * dt).var() / a.var()).item()
            corr = torch.corrcoef(torch.stack([a, da + dt]))[0, 1].item()
            rows.append((r, corr, ea, et))
        prev = fit_split_eta(a, da, dt)
    r = np.array(rows)
    err = model_errors(model, evals[:5], 16)
    results[name] = {
        "td_weight": w,
        "horizon": h,
        "steps": n,
        "fit_seconds": t_fit,
        "score_var_ratio": float(r[:, 0].mean()),
        "score_var_ratio_se": float(r[:, 0].std(ddof=1) / np.sqrt(len(r))),
        "corr": float(r[:, 1].mean()),
        "eta_a": float(r[:, 2].mean()),
        "eta_tau": float(r[:, 3].mean()),
        **err,
    }
    print(name, json.dumps(results[name]), flush=True)
    json.dump(results, open(out, "w"), indent=1)
