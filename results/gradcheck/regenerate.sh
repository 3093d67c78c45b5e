#!/usr/bin/env bash
# Regenerates results/gradcheck/*.json (the unbiasedness proof against the exact LQR gradient, and the broken
# variant's rejection by all three bias tests), then table.md.
cd "$(dirname "$0")/../.."
for model in exact learned; do
  for k in 0 1 3 10; do
    .venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs '{"state_dim": 4, "action_dim": 2, "horizon": 30}' --k $k --estimates 2000 --model $model --json results/gradcheck/k${k}_${model}.json
  done
  .venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs '{"state_dim": 4, "action_dim": 2, "horizon": 30}' --k 3 --estimates 2000 --model $model --variant broken --json results/gradcheck/k3_${model}_broken.json
done
.venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs '{"state_dim": 4, "action_dim": 2, "horizon": 30}' --k 3 --estimates 2000 --model exact --no-cut-at-terminations --json results/gradcheck/k3_exact_nocut.json
.venv/bin/rlcv bench gradcheck-report --dir results/gradcheck
