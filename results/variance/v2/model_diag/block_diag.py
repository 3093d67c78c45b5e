"""Diagnostic: η per horizon block (partial sums of imagined TD errors as separate regressors). issue 11"""

import json
import sys

import numpy as np
import torch
from common import estimator, fitted, setup

run, ckpt, out, h, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
session, fit_batches, evals = setup(run, ckpt)
policy, value_fn = session.agent.policy, session.agent.value_fn
model = fitted(session, fit_batches, horizon=h, steps=n)
ks = [1, 2, 4, 8, 16]
ests = {k: estimator(session, model, k) for k in ks}
feats = []
for b in evals:
    adv, _, values = ests[16].baseline.gae(b, value_fn)
    cols = []
    for k in ks:
        d_a, d_tau, _ = ests[k].features(b, policy, value_fn, values)
        cols += [d_a.reshape(-1), d_tau.reshape(-1)]
    feats.append((adv.reshape(-1).double().numpy(), torch.stack(cols, 1).double().numpy()))


def ratio(cols_fn):
    rs = []
    for (a0, x0), (a1, x1) in zip(feats[:-1], feats[1:], strict=True):
        X0 = cols_fn(x0)
        X0 = X0 - X0.mean(0)
        y0 = a0 - a0.mean()
        coef = np.linalg.lstsq(X0, y0, rcond=None)[0]
        X1 = cols_fn(x1)
        rs.append(np.var(a1 - X1 @ coef, ddof=1) / np.var(a1, ddof=1))
    rs = np.array(rs)
    return float(rs.mean()), float(rs.std(ddof=1) / np.sqrt(len(rs)))


res = {}
for i, k in enumerate(ks):
    res[f"k{k}_split"] = ratio(lambda x, i=i: x[:, 2 * i : 2 * i + 2])


# blocks: differences of consecutive horizons' D as separate regressors
def blocks(x, upto):
    cols = [x[:, 0], x[:, 1]]
    for j in range(1, upto):
        cols += [x[:, 2 * j] - x[:, 2 * j - 2], x[:, 2 * j + 1] - x[:, 2 * j - 1]]
    return np.stack(cols, 1)


for u in range(2, len(ks) + 1):
    res[f"blocks_to_k{ks[u - 1]}"] = ratio(lambda x, u=u: blocks(x, u))
res["all_ks_tau_only_plus_a16"] = ratio(
    lambda x: np.stack([x[:, 8]] + [x[:, 2 * j + 1] for j in range(len(ks))], 1)
)
json.dump({"model_horizon": h, "model_steps": n, "ratios": res}, open(out, "w"), indent=1)
print(json.dumps(res, indent=1))
