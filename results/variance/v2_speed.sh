#!/usr/bin/env bash
# MBMF-PPO (v2 preset) vs rlcv PPO throughput on HalfCheetah-v5, both with the env preset, interleaved
# (ppo, mbmf-ppo, ppo, mbmf-ppo, ...) so machine drift hits both alike; fps = env steps per second of the
# training loop, model training and the control variate included (the last metrics row of each run).
# Writes results/variance/v2_speed.json. Usage: speed.sh [STEPS] [REPEATS]; MBMF_SET="k=v ..." adds
# --set overrides to the mbmf-ppo arm only, OUT=path writes elsewhere.
cd "$(dirname "$0")/../.."
STEPS=${1:-10240}; REPEATS=${2:-2}; TMP=$(mktemp -d); OUT=${OUT:-results/variance/v2_speed.json}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for rep in $(seq 1 "$REPEATS"); do
  for algo in ppo mbmf-ppo; do
    extra=()
    if [ "$algo" = mbmf-ppo ] && [ -n "${MBMF_SET:-}" ]; then read -ra extra <<< "--set $MBMF_SET"; fi
    .venv/bin/rlcv train --algo $algo --env HalfCheetah-v5 --steps "$STEPS" --seed $rep --num-threads 1 \
      --eval-freq 1000000 --no-progress --run-dir "$TMP/${algo}_$rep" "${extra[@]}" > /dev/null
  done
done
.venv/bin/python - "$TMP" "$STEPS" "$REPEATS" "$OUT" "${MBMF_SET:-}" <<'PY'
import csv, json, statistics, sys
tmp, steps, reps, path, mbmf_set = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
fps = {a: [float(list(csv.DictReader(open(f"{tmp}/{a}_{r}/metrics.csv")))[-1]["fps"]) for r in range(1, reps + 1)]
       for a in ("ppo", "mbmf-ppo")}
out = {"env": "HalfCheetah-v5", "steps": steps, "repeats": reps, "mbmf_set": mbmf_set, "fps": fps,
       "fps_median": {a: statistics.median(v) for a, v in fps.items()}}
out["ratio_mbmf_over_ppo"] = out["fps_median"]["mbmf-ppo"] / out["fps_median"]["ppo"]
json.dump(out, open(path, "w"), indent=1)
print(json.dumps(out))
PY
rm -rf "$TMP"
