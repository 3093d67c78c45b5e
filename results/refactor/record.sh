#!/bin/bash
# Seeded short runs whose metrics.csv must not change across refactors (issues 9, 26).
# usage: results/refactor/record.sh CODE_DIR OUT_DIR: the runs with the code of CODE_DIR (a checkout or
# worktree of the commit to record), the venv of /work/main; then python results/refactor/compare.py A B
code=$1; out=$2; mkdir -p $out; cd $code
export PYTHONPATH=$code
R=(${PYTHON:-/work/main/.venv/bin/python} -m rlcv.cli train --seed 3 --no-progress --num-threads 1)
run() { local name=$1; shift; rm -rf "$out/$name"; "${R[@]}" --run-dir "$out/$name" "$@" > /dev/null 2>> $out/err.log; }
run ppo         --algo ppo       --env InvertedPendulum-v5 --steps 3072 --eval-freq 2048 --eval-episodes 2
run trpo        --algo trpo      --env InvertedPendulum-v5 --steps 3072
run mbmf-ppo    --algo mbmf-ppo  --env InvertedPendulum-v5 --steps 3072 --set n_epochs=2
run mbmf-trpo   --algo mbmf-trpo --env InvertedPendulum-v5 --steps 2048 --set eta_mode=fitted
run mbmf-ppo-hc --algo mbmf-ppo  --env HalfCheetah-v5 --steps 2048 --set n_epochs=2
run bgan        --algo bgan      --env rlcv/BGAN-Digits-v0 --steps 192 --set n_steps=32 n_samples=4
run bgan-gumbel --algo bgan-gumbel --env rlcv/BGAN-Digits-v0 --steps 128 --set n_steps=32 n_samples=4
run bgan-cont   --algo bgan      --env rlcv/BGAN-DigitsCont-v0 --steps 128 --set n_steps=32 n_samples=4
run hpo-ucb1    --algo hpo-ucb1  --env rlcv/OnlineHPO-v0 --steps 8 --env-kwargs '{budget: 200}'
run hpo-forward --algo hpo-forward --env rlcv/OnlineHPO-v0 --steps 6 --env-kwargs '{budget: 200}'
run hpo-pbt     --algo hpo-pbt   --env rlcv/OnlineHPO-v0 --steps 40 --env-kwargs '{budget: 200}'
run sb3-ppo     --algo sb3-ppo   --env InvertedPendulum-v5 --steps 2048
echo done > $out/DONE
