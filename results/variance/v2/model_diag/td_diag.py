"""Diagnostic: does a TD-error-aware model loss make the λ-matched CV track Â better? (issue 11)"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import estimator, fitted, setup

from rlcv.bench.variance import model_errors
from rlcv.estimators.mbmf import fit_split_eta

run, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
DEFAULTS = ["", "0", "3", "3000", "128", "1e-3"]  # name:td_weight:horizon:steps[:hidden[:lr]]
variants = [v.split(":") + DEFAULTS[len(v.split(":")) :] for v in sys.argv[4:]]
session, fit_batches, evals = setup(run, ckpt)
policy, value_fn = session.agent.policy, session.agent.value_fn
results = json.load(open(out)) if Path(out).exists() else {}
for name, w, h, n, width, lr in variants:
    if name in results:
        continue
    w, h, n, width, lr = float(w), int(h), int(n), int(width), float(lr)
    t0 = time.perf_counter()
    model = fitted(session, fit_batches, horizon=h, steps=n, td_weight=w, hidden=width, lr=lr)
    t_fit = time.perf_counter() - t0
    est = estimator(session, model, 16)
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
        "hidden": width,
        "lr": lr,
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
