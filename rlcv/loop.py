"""The native training loop: envs, agent, normalisers and counters of one process, and the loop over
updates (collect a rollout, update the agent, record). What a run directory holds is in
:mod:`rlcv.run_dir`; what is recorded after every update in :mod:`rlcv.recorder`; `rlcv train` and
`--resume` reach this module through :mod:`rlcv.launch`, which also dispatches SB3 algorithms to
:mod:`rlcv.sb3_backend`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from rlcv import checkpoint
from rlcv.agents import agent_class, build_agent_config
from rlcv.agents.base import Agent
from rlcv.collector import Collector, UncountedCollector
from rlcv.config import CommonConfig
from rlcv.env_factory import make_vec_env
from rlcv.env_hooks import BindContext, EnvHooks
from rlcv.errors import RlcvError
from rlcv.evaluation import evaluate
from rlcv.finite import check_env_data
from rlcv.normalize import ObsNormalizer, RewardScaler
from rlcv.recorder import Recorder
from rlcv.run_dir import RunDir
from rlcv.unclipped import env_wrappers, pre_clip

# The format tag inside the final policy file; the value predates the file's rename to policy.pt
# and stays, so files of older runs and newer runs read alike.
POLICY_FORMAT = "rlcv-model-v1"


def config_class(algo: str) -> type:
    return agent_class(algo).config_cls


def new_trainer(*, algo: str, env_id: str, config: CommonConfig, seed: int) -> Trainer:
    """A trainer ready to start at step 0 (everything that can fail on bad input has run)."""
    trainer = Trainer(algo=algo, env_id=env_id, config=config, seed=seed)
    trainer.reset_envs(seed)
    return trainer


def resume_trainer(run: RunDir, meta: dict[str, Any], checkpoint_name: str = "last.pt") -> Trainer:
    """A trainer restored from ``checkpoints/<checkpoint_name>`` (nothing in the run directory is touched)."""
    state = checkpoint.load(run.checkpoint(checkpoint_name))
    config = build_agent_config(meta["algo"], meta["config"])
    trainer = Trainer(algo=meta["algo"], env_id=meta["env"], config=config, seed=meta["seed"])
    trainer.load_state_dict(state)
    return trainer


# Extra (uncounted) envs are seeded this far from the counted ones, so their episodes differ.
EXTRA_SEED_OFFSET = 1_000_003


class Trainer:
    """One training process: envs, agent, normalisers and counters, and the loop over updates."""

    def __init__(self, *, algo: str, env_id: str, config: CommonConfig, seed: int) -> None:
        torch.set_num_threads(config.num_threads)
        torch.manual_seed(seed)
        self.algo, self.env_id, self.config, self.seed = algo, env_id, config, seed
        self.envs = make_vec_env(
            env_id,
            n_envs=config.n_envs,
            vectorization=config.vectorization,
            env_kwargs=config.env_kwargs,
            wrappers=env_wrappers(config),
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
            self.envs.single_observation_space.shape,
            enabled=config.normalize_obs,
            clip=config.clip_obs,
            pre_clip=pre_clip(self.envs) if env_wrappers(config) else None,
        )
        self.reward_scaler = RewardScaler(
            config.n_envs, enabled=config.normalize_reward, gamma=config.gamma, clip=config.clip_reward
        )
        # The one facade over the envs' hooks: agents and collector reach the envs only through it.
        hooks = EnvHooks(self.envs)
        self.uncounted: list[UncountedCollector] = []  # built by the agent in bind, if it asks
        self.agent.bind(
            BindContext(
                env_id=env_id,
                env_kwargs=config.env_kwargs,
                obs_normalizer=self.obs_normalizer,
                reward_scaler=self.reward_scaler,
                hooks=hooks,
                uncounted_collector=self.uncounted_collector,
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

    def uncounted_collector(self, n_envs: int) -> UncountedCollector:
        """``n_envs`` further envs whose samples the run does not count (``BindContext``): run by the
        agent's policy with the run's normalisers frozen, reset and closed with the run's own envs."""
        cfg = self.config
        envs = make_vec_env(
            self.env_id,
            n_envs=n_envs,
            vectorization=cfg.vectorization,
            env_kwargs=cfg.env_kwargs,
            wrappers=env_wrappers(cfg),
        )
        collector = UncountedCollector(
            Collector(
                envs,
                self.agent.policy,
                obs_normalizer=self.obs_normalizer,
                reward_scaler=self.reward_scaler,
                group_size=self.agent.group_size,
            )
        )
        self.uncounted.append(collector)
        return collector

    def reset_envs(self, seed: int) -> None:
        self.collector.reset(seed)
        for i, extra in enumerate(self.uncounted):
            extra.reset(seed + EXTRA_SEED_OFFSET * (i + 1))

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
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
            raise RlcvError(
                f"checkpoint does not match this run's algorithm/config ({exc}); resume the run "
                f"that wrote it, or start a new run."
            ) from exc
        # An env's internal state cannot be restored in general (MuJoCo, vector envs): start fresh
        # episodes, seeded from (seed, step) so that a resumed run is itself reproducible.
        self.reset_envs(self.seed + 7919 * (self.step + 1))

    def policy_state(self) -> dict[str, Any]:
        """The final policy file (``policy.pt``): what `rlcv eval` needs, without optimiser or critic."""
        state = {
            "format": POLICY_FORMAT,
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
    def train(self, run: RunDir, *, total_steps: int, progress: bool, resume_step: int | None = None) -> None:
        """Update until ``total_steps`` env steps, then write the final policy; closes the envs."""
        cfg = self.config
        recorder = Recorder(
            run,
            self.agent.metric_names,
            total_steps=total_steps,
            start_step=self.step,
            eval_freq=cfg.eval_freq,
            checkpoint_freq=cfg.checkpoint_freq,
            progress=progress,
            desc=f"{self.algo} {self.env_id}",
            resume_step=resume_step,
        )
        steps_per_update = self.agent.n_steps * cfg.n_envs
        try:
            while self.step < total_steps:
                prev = self.step
                batch = self.collector.collect(self.agent.n_steps)
                self.step += steps_per_update
                check_env_data(self.env_id, self.step, reward=batch.raw_rewards, observation=batch.raw_obs)
                metrics = self.agent.update(batch)
                ep = self.collector
                recorder.record(
                    step=self.step,
                    prev_step=prev,
                    episodes=ep.episodes,
                    episode_return_mean=sum(ep.episode_returns) / len(ep.episode_returns)
                    if ep.episode_returns
                    else None,
                    episode_length_mean=sum(ep.episode_lengths) / len(ep.episode_lengths)
                    if ep.episode_lengths
                    else None,
                    metrics=metrics,
                    evaluate=self._evaluate,
                    state=self.state_dict,
                )
            checkpoint.save(self.policy_state(), run.policy)
        finally:
            recorder.close()
            self.envs.close()
            for extra in self.uncounted:
                extra.collector.envs.close()

    def _evaluate(self) -> dict[str, Any]:
        cfg = self.config
        return evaluate(
            self.agent.policy,
            self.env_id,
            episodes=cfg.eval_episodes,
            obs_normalizer=self.obs_normalizer,
            seed=self.seed + 10_000,
            env_kwargs=cfg.env_kwargs,
        )
