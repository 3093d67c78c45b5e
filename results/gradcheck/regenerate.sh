#!/usr/bin/env bash
# Regenerates results/gradcheck/*.json (the unbiasedness proof against the exact LQR gradient, and the broken
# variant's rejection by all three bias tests), then table.md.
cd "$(dirname "$0")/../.."
LQR='{"state_dim": 4, "action_dim": 2, "horizon": 30}'
# γ = λ = 1: reference = the exact gradient (the λ-matched CV equals the k-step one at λ = 1).
for model in exact learned; do
  for k in 0 1 3 10; do
    .venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" --k $k --estimates 2000 --model $model --json results/gradcheck/k${k}_${model}.json
  done
  .venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" --k 3 --estimates 2000 --model $model --variant broken --json results/gradcheck/k3_${model}_broken.json
done
.venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" --k 3 --estimates 2000 --model exact --no-cut-at-terminations --json results/gradcheck/k3_exact_nocut.json
# γ = 0.95, λ = 0.9 (MBMF v2): reference = the k = 0 GAE surrogate gradient on the same batches (paired).
V2='--gamma 0.95 --gae-lambda 0.9 --estimates 1000 --episodes 5'
.venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" $V2 --k 3 --cv-form kstep --model exact --json results/gradcheck/v2_k3_kstep_exact.json
.venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" $V2 --k 10 --cv-form lambda --model exact --json results/gradcheck/v2_k10_lambda_exact.json
for model in exact learned; do
  .venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" $V2 --k 10 --cv-form lambda --eta-mode split --clip-range 0.2 --model $model --json results/gradcheck/v2_k10_lambda_split_clip_${model}.json
  .venv/bin/rlcv bench gradcheck --env rlcv/LQR-v0 --env-kwargs "$LQR" $V2 --k 10 --cv-form lambda --eta-mode split --clip-range 0.2 --model $model --variant broken --json results/gradcheck/v2_k10_lambda_split_clip_${model}_broken.json
done
.venv/bin/rlcv bench gradcheck-report --dir results/gradcheck
