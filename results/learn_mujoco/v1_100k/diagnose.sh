#!/usr/bin/env bash
# Diagnostic plots for MBMF-PPO in this sweep (issue 4): model error and control-variate quality over
# training, from the runs' own metrics.csv. Run after `rlcv bench learn ... --out results/learn_mujoco`.
set -euo pipefail
cd "$(dirname "$0")"
for env in HalfCheetah-v5 Hopper-v5; do
  for metric in model_error_1step model_error_kstep cv_corr cv_score_var_ratio; do
    rlcv plot runs/mbmf-ppo/$env/s0 runs/mbmf-ppo/$env/s1 runs/mbmf-ppo/$env/s2 --metric $metric --out diag_${env}_${metric}.png
  done
done
