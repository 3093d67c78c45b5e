"""Training runs: resolve the config, own the run directory, drive the loop, checkpoint, resume.

Run directory (the contract in DESIGN.md)::

    RUN_DIR/config.yaml       algo, env, steps, seed and the fully resolved agent config
    RUN_DIR/command.txt       the command line that created / resumed the run
    RUN_DIR/metrics.csv       one row per update (columns: rlcv.logger)
    RUN_DIR/tb/               TensorBoard events, same metric names as the CSV
    RUN_DIR/checkpoints/      last.pt (every update) and step_N.pt (every checkpoint_freq steps)
    RUN_DIR/model.pt          final policy + observation normaliser, what `rlcv eval` loads
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm import tqdm

from rlcv import checkpoint
from rlcv.agents import AGENTS, SB3_ALGOS, agent_class
from rlcv.agents.base import Agent
from rlcv.collector import Collector
from rlcv.config import build_config, load_yaml, preset
from rlcv.env_factory import check_env_id, make_vec_env
from rlcv.env_hooks import BindContext, EnvHooks
from rlcv.errors import RlcvError, did_you_mean
from rlcv.evaluation import evaluate
from rlcv.logger import COMMON_METRICS, MetricsLogger
from rlcv.normalize import ObsNormalizer, RewardScaler

MODEL_FORMAT = "rlcv-model-v1"


@dataclass(kw_only=True)
class TrainRequest:
    """Everything `rlcv train` was asked for; CLI flags like --n-envs arrive inside ``overrides``."""

    algo: str
    env: str
    steps: int
    seed: int = 0
    config_file: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    progress: bool = True
    command: list[str] | None = None  # the CLI arguments, recorded in command.txt


def default_run_dir(algo: str, env: str, seed: int) -> Path:
    return Path("runs") / f"{algo}_{env.replace('/', '-')}_s{seed}"


def check_algo(algo: str) -> None:
    known = [*AGENTS, *SB3_ALGOS]
    if algo not in known:
        raise RlcvError(f"unknown algorithm '{algo}'.{did_you_mean(algo, known)} Known: {', '.join(known)}.")


def resolve_config(algo: str, env: str, config_file: str | None, overrides: dict[str, Any]) -> Any:
    values = preset(algo, env)
    if config_file:
        values.update(load_yaml(config_file))
    values.update(overrides)
    return build_config(agent_class(algo).config_cls, values)


def check_new_run_dir(run_dir: Path) -> None:
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RlcvError(
            f"run directory '{run_dir}' already exists; continue it with `rlcv train --resume "
            f"{run_dir}` or choose another --run-dir."
        )


def _write_command(run_dir: Path, mode: str, command: list[str] | None) -> None:
    args = sys.argv[1:] if command is None else command
    with (run_dir / "command.txt").open(mode) as f:
        f.write(shlex.join(["rlcv", *args]) + "\n")


def train(request: TrainRequest) -> Path:
    check_algo(request.algo)
    if request.steps < 1:
        raise RlcvError(f"--steps must be >= 1, got {request.steps}.")
    if request.algo in SB3_ALGOS:
        from rlcv import sb3_runner

        return sb3_runner.train(request)
    check_env_id(request.env)
    config = resolve_config(request.algo, request.env, request.config_file, request.overrides)
    run_dir = (
        Path(request.run_dir) if request.run_dir else default_run_dir(request.algo, request.env, request.seed)
    )
    check_new_run_dir(run_dir)
    session = Session(algo=request.algo, env_id=request.env, config=config, seed=request.seed)
    # Everything that can fail on bad input (env id, kwargs, action space) has run: now create files.
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "algo": request.algo,
        "env": request.env,
        "steps": request.steps,
        "seed": request.seed,
        "config": dataclasses.asdict(config),
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    _write_command(run_dir, "w", request.command)
    session.reset_envs(request.seed)
    session.run(run_dir, total_steps=request.steps, progress=request.progress)
    return run_dir


def set_total_steps(run_dir: Path, meta: dict[str, Any], steps: int | None) -> None:
    """Record a new --steps target; called only once the checkpoint has loaded, so a failed resume
    leaves config.yaml as it was."""
    if steps is not None:
        meta["steps"] = steps
        (run_dir / "config.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))


def resume(
    run_dir: str | Path, *, steps: int | None = None, progress: bool = True, command: list[str] | None = None
) -> Path:
    run_dir = Path(run_dir)
    meta_path = run_dir / "config.yaml"
    if not meta_path.is_file():
        raise RlcvError(
            f"'{run_dir}' is not a run directory (no config.yaml); pass the folder `rlcv train` made."
        )
    meta = yaml.safe_load(meta_path.read_text())
    if meta["algo"] in SB3_ALGOS:
        from rlcv import sb3_runner

        return sb3_runner.resume(run_dir, meta, progress=progress, steps=steps, command=command)
    state = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    config = build_config(agent_class(meta["algo"]).config_cls, meta["config"])
    session = Session(algo=meta["algo"], env_id=meta["env"], config=config, seed=meta["seed"])
    session.load_state_dict(state)
    set_total_steps(run_dir, meta, steps)
    _write_command(run_dir, "a", command)
    session.run(run_dir, total_steps=int(meta["steps"]), progress=progress, resume_step=session.step)
    return run_dir


class Session:
    """One training process: envs, agent, normalisers and counters, and the loop over updates."""

    def __init__(self, *, algo: str, env_id: str, config: Any, seed: int) -> None:
        torch.set_num_threads(config.num_threads)
        torch.manual_seed(seed)
        self.algo, self.env_id, self.config, self.seed = algo, env_id, config, seed
        self.envs = make_vec_env(
            env_id, n_envs=config.n_envs, vectorization=config.vectorization, env_kwargs=config.env_kwargs
        )
        try:
            self.agent: Agent = agent_class(algo)(
                observation_space=self.envs.single_observation_space,
                action_space=self.envs.single_action_space,
                config=config,
            )
        except Exception:
            self.envs.close()
            raise
        self.obs_normalizer = ObsNormalizer(
            self.envs.single_observation_space.shape, enabled=config.normalize_obs, clip=config.clip_obs
        )
        self.reward_scaler = RewardScaler(
            config.n_envs, enabled=config.normalize_reward, gamma=config.gamma, clip=config.clip_reward
        )
        # The one facade over the envs' hooks: agents and collector reach the envs only through it.
        hooks = EnvHooks(self.envs)
        self.agent.bind(
            BindContext(
                env_id=env_id,
                env_kwargs=config.env_kwargs,
                obs_normalizer=self.obs_normalizer,
                reward_scaler=self.reward_scaler,
                hooks=hooks,
            )
        )
        self.collector = Collector(
            self.envs,
            self.agent.policy,
            obs_normalizer=self.obs_normalizer,
            reward_scaler=self.reward_scaler,
            group_size=self.agent.group_size,
            hooks=hooks,
        )
        self.step = 0
        self.last_eval: dict[str, Any] | None = None

    def reset_envs(self, seed: int) -> None:
        self.collector.reset(seed)

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "agent": self.agent.state_dict(),
            "obs_normalizer": self.obs_normalizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict(),
            "collector": self.collector.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.step = int(state["step"])
            self.agent.load_state_dict(state["agent"])
            self.obs_normalizer.load_state_dict(state["obs_normalizer"])
            self.reward_scaler.load_state_dict(state["reward_scaler"])
            self.collector.load_state_dict(state["collector"])
            torch.set_rng_state(state["torch_rng"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise RlcvError(
                f"checkpoint does not match this run's algorithm/config ({exc}); resume the run "
                f"that wrote it, or start a new run."
            ) from exc
        # An env's internal state cannot be restored in general (MuJoCo, vector envs): start fresh
        # episodes, seeded from (seed, step) so that a resumed run is itself reproducible.
        self.collector.reset(self.seed + 7919 * (self.step + 1))

    def model_state(self) -> dict[str, Any]:
        state = {
            "format": MODEL_FORMAT,
            "algo": self.algo,
            "env": self.env_id,
            "config": dataclasses.asdict(self.config),
            "policy": self.agent.policy.state_dict(),
            "obs_normalizer": self.obs_normalizer.state_dict(),
        }
        env_states = self.collector.env_states()
        if env_states is not None:  # envs that learn as the loop runs (e.g. a GAN discriminator)
            state["env_state"] = env_states[0]
        return state

    # -- the loop -------------------------------------------------------------------------------
    def run(self, run_dir: Path, *, total_steps: int, progress: bool, resume_step: int | None = None) -> None:
        cfg = self.config
        logger = MetricsLogger(run_dir, (*COMMON_METRICS, *self.agent.metric_names), resume_step=resume_step)
        steps_per_update = self.agent.n_steps * cfg.n_envs
        bar = tqdm(
            total=total_steps,
            initial=self.step,
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
            desc=f"{self.algo} {self.env_id}",
        )
        start_time, start_step = time.perf_counter(), self.step
        try:
            while self.step < total_steps:
                prev = self.step
                batch = self.collector.collect(self.agent.n_steps)
                self.step += steps_per_update
                metrics = self.agent.update(batch)
                elapsed = time.perf_counter() - start_time
                ep = self.collector
                row: dict[str, Any] = {
                    "step": self.step,
                    "time_elapsed": elapsed,
                    "fps": (self.step - start_step) / elapsed,
                    "episodes": ep.episodes,
                    "episode_return_mean": sum(ep.episode_returns) / len(ep.episode_returns)
                    if ep.episode_returns
                    else None,
                    "episode_length_mean": sum(ep.episode_lengths) / len(ep.episode_lengths)
                    if ep.episode_lengths
                    else None,
                    **metrics,
                }
                if cfg.eval_freq and self.step // cfg.eval_freq > prev // cfg.eval_freq:
                    self.last_eval = evaluate(
                        self.agent.policy,
                        self.env_id,
                        episodes=cfg.eval_episodes,
                        obs_normalizer=self.obs_normalizer,
                        seed=self.seed + 10_000,
                        env_kwargs=cfg.env_kwargs,
                    )
                    row["eval_return_mean"] = self.last_eval["mean_return"]
                    row["eval_return_std"] = self.last_eval["std_return"]
                logger.log(row)
                self._checkpoint(run_dir, prev)
                bar.update(self.step - prev)
                postfix = {"fps": f"{row['fps']:.0f}"}
                if row["episode_return_mean"] is not None:
                    postfix["return"] = f"{row['episode_return_mean']:.1f}"
                if self.last_eval is not None:
                    postfix["eval"] = f"{self.last_eval['mean_return']:.1f}"
                bar.set_postfix(postfix)
            checkpoint.save(self.model_state(), run_dir / "model.pt")
        finally:
            bar.close()
            logger.close()
            self.envs.close()

    def _checkpoint(self, run_dir: Path, prev_step: int) -> None:
        state = self.state_dict()
        checkpoint.save(state, run_dir / "checkpoints" / "last.pt")
        freq = self.config.checkpoint_freq
        if freq and self.step // freq > prev_step // freq:
            checkpoint.save(state, run_dir / "checkpoints" / f"step_{self.step:09d}.pt")
