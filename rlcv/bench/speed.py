"""`rlcv bench speed`: training throughput of rlcv's agents vs SB3 on the same machine.

Every algorithm trains in its own fresh process (:func:`rlcv.bench.runs.run_one`) with identical
hyper-parameters (SB3's defaults: n_steps 2048, batch 64, 10 epochs, 64-64 tanh, one env, no
normalisation, one torch thread and one BLAS thread). Repeats are interleaved (A B C D A B C D ...)
so that drift of a noisy machine hits every algorithm alike; medians and ratios of medians are
reported. Throughput is the ``fps`` column of the run's last metrics row: env steps per second of
wall time inside the training loop, model updates included, process start-up excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rlcv.bench import runs
from rlcv.bench.checks import check_algos, out_dir, positive_int, require_report_input
from rlcv.bench.flags import command_line, flag, spec_of
from rlcv.bench.report import add_bench, fmt_interval, render, write_json
from rlcv.errors import RlcvError
from rlcv.stats import median_ratio_bootstrap

# Identical hyper-parameters for each family (SB3 / sb3-contrib defaults).
COMMON = (
    "normalize_obs=false normalize_reward=false hidden_sizes=[64,64] activation=tanh log_std_init=0.0 "
    "ortho_init=true gamma=0.99 gae_lambda=0.95 n_steps=2048"
).split()
FAMILY_SETTINGS = {
    "ppo": "batch_size=64 n_epochs=10 learning_rate=3e-4 clip_range=0.2 ent_coef=0.0 vf_coef=0.5 "
    "max_grad_norm=0.5",
    "trpo": "batch_size=128 learning_rate=1e-3 n_critic_updates=10 target_kl=0.01 cg_max_steps=15 "
    "cg_damping=0.1",
}
BASELINE = {"ppo": "sb3-ppo", "trpo": "sb3-trpo"}


@dataclass(kw_only=True)
class SpeedSpec:
    """`rlcv bench speed`'s flags (:mod:`rlcv.bench.flags`; the field order is the page's command's)."""

    env: str = flag("HalfCheetah-v5", help="a continuous-control env (Box actions)")
    steps: int = flag(20480, type=positive_int)
    repeats: int = flag(3, type=positive_int, help="interleaved repeats; medians are reported")
    algos: list[str] = flag(["ppo", "sb3-ppo", "mbmf-ppo", "trpo", "sb3-trpo"])
    out: str = flag("results", type=out_dir)
    report_only: bool = flag(
        False, command=False, help="rebuild OUT/speed.md from OUT/speed.json (no timing)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    add_bench(sub, "speed", SpeedSpec, run, help="env-steps/s of rlcv PPO/TRPO vs SB3 on the same machine")


def run(args: argparse.Namespace) -> int:
    spec = spec_of(SpeedSpec, args)
    out = Path(spec.out)
    if spec.report_only:
        require_report_input(out / "speed.json", "speed")
        result = json.loads((out / "speed.json").read_text())
    else:
        from rlcv.agents import AGENTS, SB3_ALGOS
        from rlcv.env_factory import check_env_id

        check_algos(spec.algos, [*AGENTS, *SB3_ALGOS])
        check_env_id(spec.env)
        check_box_actions(spec.env, spec.algos)
        write_json(out / "speed.json", result := run_speed_bench(spec))
    (out / "speed.md").write_text(page := render_markdown(result))
    print(page)
    return 0


def check_box_actions(env_id: str, algos: list[str]) -> None:
    """The bench times continuous control with SB3's Gaussian-policy defaults: Box actions only, and
    bounded ones where the sb3-ppo-raw row (SB3's own learn(), which refuses unbounded actions) runs."""
    import gymnasium as gym
    import numpy as np

    try:
        env = gym.make(env_id)
    except Exception as exc:  # e.g. MuJoCo missing: its own message names it
        text = (str(exc).strip().splitlines() or ["no message"])[0]
        raise RlcvError(f"--env {env_id} could not be created ({type(exc).__name__}: {text}).") from exc
    space = env.action_space
    env.close()
    if not isinstance(space, gym.spaces.Box):
        raise RlcvError(
            f"--env {env_id} has {space} actions; bench speed times continuous control (Box actions, "
            "Gaussian policies): choose e.g. HalfCheetah-v5 or Pendulum-v1."
        )
    if "sb3-ppo" in algos and not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise RlcvError(
            f"--env {env_id} has unbounded actions ({space}), which SB3's own learn() (the sb3-ppo-raw row "
            "that sb3-ppo adds) refuses; leave sb3-ppo out of --algos or choose a bounded env."
        )


def train_args(algo: str, env_id: str, steps: int, seed: int) -> list[str]:
    """``rlcv train`` arguments of one timed run (the runner adds ``--run-dir``)."""
    args = ["train", "--algo", algo, "--env", env_id, "--steps", str(steps), "--seed", str(seed)]
    args += ["--n-envs", "1", "--num-threads", "1", "--no-progress"]
    family = "trpo" if algo.endswith("trpo") else "ppo"
    return [*args, "--set", *COMMON, *FAMILY_SETTINGS[family].split()]


def train_fps(name: str, run_dir: Path, args: list[str], steps: int, bench: str) -> float:
    """One ``rlcv train`` through the bench runner (a fresh process, one thread); the env-steps/s of its
    last metrics row (the training loop's, process start-up excluded)."""
    return float(runs.train_once(runs.RunJob(name, run_dir, args, steps), bench)[-1]["fps"])


# SB3's own learn() with its defaults and no rlcv wrapper or callback: a check that the sb3-ppo row
# (SB3 behind rlcv's run-dir logging) does not flatter rlcv by slowing SB3 down.
RAW_SB3_PPO = """
import sys, time, torch
import rlcv.envs  # registers the rlcv/ ids (no wrapper: gym.make builds the env as SB3 would)
torch.set_num_threads(1)
from stable_baselines3 import PPO
model = PPO("MlpPolicy", sys.argv[1], seed=int(sys.argv[3]), device="cpu")
start = time.perf_counter()
model.learn(int(sys.argv[2]))
print(int(sys.argv[2]) / (time.perf_counter() - start))
"""


def measure_raw_sb3_ppo(env_id: str, steps: int, seed: int) -> float:
    proc = subprocess.run(
        [sys.executable, "-c", RAW_SB3_PPO, env_id, str(steps), str(seed)],
        capture_output=True,
        text=True,
        env={**os.environ, **runs.SINGLE_THREAD_ENV},
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RlcvError(f"rlcv bench speed: the sb3-ppo-raw run failed: {last}")
    return float(proc.stdout.strip().splitlines()[-1])


def sample_fps(env_id: str, steps: int, repeats: int, algos: list[str]) -> dict[str, list[float]]:
    """Env steps/s of every algorithm in every repeat, repeats interleaved (repeat r: seed r for all)."""
    samples: dict[str, list[float]] = {a: [] for a in algos}
    for r in range(repeats):
        for algo in algos:
            if algo == "sb3-ppo-raw":
                fps = measure_raw_sb3_ppo(env_id, steps, seed=r)
            else:  # a fresh process and a temporary folder
                with tempfile.TemporaryDirectory() as tmp:
                    fps = train_fps(
                        algo, Path(tmp) / "run", train_args(algo, env_id, steps, r), steps, "speed"
                    )
            samples[algo].append(fps)
            print(f"[repeat {r + 1}/{repeats}] {algo:10s} {fps:8.0f} env-steps/s", flush=True)
    return samples


def ratio_pairs(algos: list[str]) -> list[tuple[str, str]]:
    """(numerator, denominator) of every ratio reported: each rlcv algorithm over its SB3 baseline,
    PPO over SB3's raw learn(), MBMF-PPO over PPO."""
    pairs = [(a, BASELINE[a]) for a in algos if BASELINE.get(a) in algos]
    pairs += [(a, b) for a, b in (("ppo", "sb3-ppo-raw"), ("mbmf-ppo", "ppo")) if a in algos and b in algos]
    return pairs


def run_speed_bench(spec: SpeedSpec) -> dict:
    """Time every algorithm (:func:`sample_fps`; sb3-ppo brings its raw-SB3 check); the page's data."""
    algos = [*spec.algos, "sb3-ppo-raw"] if "sb3-ppo" in spec.algos else spec.algos
    samples = sample_fps(spec.env, spec.steps, spec.repeats, algos)
    medians = {a: statistics.median(v) for a, v in samples.items()}
    machine = {"python": platform.python_version(), "processor": platform.processor() or platform.machine()}
    example = ["rlcv", *train_args(algos[0], spec.env, spec.steps, 0), "--run-dir", "RUN"]
    return {
        "env": spec.env,
        "steps_per_run": spec.steps,
        "repeats": spec.repeats,
        "samples_fps": samples,
        "median_fps": medians,
        "ratios": {f"{a}/{b}": medians[a] / medians[b] for a, b in ratio_pairs(algos)},
        "command": command_line("rlcv bench speed", spec),
        "machine": {**machine, "torch_threads": 1},
        "example_train_command": shlex.join(example),
    }


def render_markdown(result: dict) -> str:
    """The page (template speed.md.j2): medians per algo, and the ratios of medians, each with its 95 %
    interval — a percentile bootstrap over the repeats, resampled by pair (repeat r of both algorithms
    ran with seed r, side by side in time)."""
    samples = result["samples_fps"]
    rows = [
        [a, f"{m:.0f}", ", ".join(f"{v:.0f}" for v in samples[a])] for a, m in result["median_fps"].items()
    ]
    ratios = []
    for key in result["ratios"]:
        num, den = key.split("/")
        ratios.append(
            [key, fmt_interval(median_ratio_bootstrap(samples[num], samples[den], paired=True), ".2f", "×")]
        )
    return render("speed.md.j2", r=result, rows=rows, ratios=ratios)
