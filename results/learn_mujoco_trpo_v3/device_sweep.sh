#!/usr/bin/env bash
# Extra TRPO / MBMF-TRPO pair seeds on a lent 16-core machine (the `device` tool of this workplace),
# whose image has PyTorch but not MuJoCo / Gymnasium / SB3: those travel as wheels in .whl/ (see the
# tool's README) and rlcv is installed next to them. Seeds 0-2 are skipped (their summaries are
# committed); the bench runs under a time limit, and every run that finished by then leaves its summary.
# What comes back: one tarball of the new summaries and the runs' metrics.csv (for `rlcv bench gate --from-runs`), and the log.
# Usage (repo root): [PY=python3] [SEEDS=8] [STEPS=300000] [WORKERS=16] [LIMIT=480] [DEST=$OUT] device_sweep.sh
set -uo pipefail
PY=${PY:-python3}; SEEDS=${SEEDS:-8}; STEPS=${STEPS:-300000}; WORKERS=${WORKERS:-16}; LIMIT=${LIMIT:-480}
DEST=${DEST:-${OUT:?set OUT or DEST}}; RES=${RES:-results/learn_mujoco_trpo_v3}; SITE=${SITE:-/tmp/site}
exec > >(tee "$DEST/sweep.log") 2>&1
nproc; grep -m1 'model name' /proc/cpuinfo
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" . || exit 1
# PYTHONSAFEPATH: the repo root (the cwd) must not shadow the installed rlcv, whose envs/agents are mapped in.
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1 PYTHONSAFEPATH=1
"$PY" -c "import torch, gymnasium, mujoco, stable_baselines3, sb3_contrib, rlcv; print(torch.__version__, gymnasium.__version__, mujoco.__version__, stable_baselines3.__version__)" || exit 1
start=$(date +%s); touch /tmp/sweep_start
timeout -k 15 -s INT "$LIMIT" "$PY" -m rlcv.cli bench learn --algos trpo mbmf-trpo --envs HalfCheetah-v5 Hopper-v5 \
  --seeds "$SEEDS" --steps "$STEPS" --eval-freq 10000 --eval-episodes 10 --workers "$WORKERS" --out "$RES"
echo "bench exit $? after $(( $(date +%s) - start )) s"
# New summaries and metrics only (seeds >= 3); tar keeps the paths, so the tarball unpacks at the repo root.
find "$RES/summaries" -name 's*.json' -newer /tmp/sweep_start -print > /tmp/list
find "$RES/runs" -path '*/s*/metrics.csv' -newer /tmp/sweep_start -print >> /tmp/list 2>/dev/null
find "$RES/runs" -maxdepth 3 -name 's*.args.json' -newer /tmp/sweep_start -print >> /tmp/list 2>/dev/null
tar czf "$DEST/trpo_pairs.tar.gz" -T /tmp/list && wc -l < /tmp/list
