"""Collecting rollouts from a vector env with a policy.

The collector is the only code that touches the environment during training. It normalises
observations and scales rewards, records the noise behind every action, keeps the true next
observation at episode ends, and can draw a *group* of G actions for the same observation
(member 0 is executed; the others are scored by the env's ``group_rewards`` hook, used by
generator-as-policy problems where a state can be evaluated for many actions).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlcv.env_hooks import EnvHooks
from rlcv.errors import RlcvError
from rlcv.normalize import ObsNormalizer, RewardScaler
from rlcv.policies import Policy
from rlcv.rollout import RolloutBatch


def final_observations(next_raw: np.ndarray, done: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    """The observations each env step really ended in: a vector env that auto-resets returns the next
    episode's first observation and keeps the last one in ``info["final_obs"]``."""
    if not (done.any() and "final_obs" in info):
        return next_raw
    true_next = next_raw.copy()
    for i in np.flatnonzero(info["_final_obs"]):
        true_next[i] = info["final_obs"][i]
    return true_next


class Collector:
    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        policy: Policy,
        *,
        obs_normalizer: ObsNormalizer,
        reward_scaler: RewardScaler,
        group_size: int = 1,
        hooks: EnvHooks | None = None,
    ) -> None:
        self.envs, self.policy = envs, policy
        self.hooks = hooks if hooks is not None else EnvHooks(envs)
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.group_size = group_size
        self.n_envs = envs.num_envs
        obs_shape = envs.single_observation_space.shape
        # Shapeless spaces (Graph, Sequence) are rejected by the agents and the ObsNormalizer first.
        assert obs_shape is not None, "the collector needs an observation space with a fixed shape"
        self.obs_shape: tuple[int, ...] = obs_shape
        self.time_limit = envs.spec.max_episode_steps if envs.spec is not None else None
        if group_size > 1 and not isinstance(envs, gym.vector.SyncVectorEnv):
            raise RlcvError("group sampling (group_size > 1) needs vectorization=sync.")
        self._raw_obs: np.ndarray | None = None
        self._ep_return = np.zeros(self.n_envs)
        self._ep_length = np.zeros(self.n_envs, dtype=np.int64)
        self.episode_returns: deque[float] = deque(maxlen=100)  # the last 100, as SB3's ep_info_buffer
        self.episode_lengths: deque[int] = deque(maxlen=100)
        self.episodes = 0

    def reset(self, seed: int | None) -> None:
        raw, _ = self.envs.reset(seed=seed)
        self.obs_normalizer.update(raw)
        self._raw_obs = raw
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0

    def _group_rewards(self, raw_obs: np.ndarray, actions: np.ndarray, executed: np.ndarray) -> np.ndarray:
        out = np.zeros((self.n_envs, self.group_size), dtype=np.float32)
        out[:, 0] = executed
        for i in range(self.n_envs):
            hook = self.hooks.group_rewards(i)
            if hook is None:
                raise RlcvError(
                    f"{self.hooks.env_name(i)} has no group_rewards(obs, actions) "
                    f"hook, so it cannot score a group of actions; use group_size=1."
                )
            out[i, 1:] = hook(raw_obs[i], actions[i, 1:])
        return out

    def collect(self, n_steps: int) -> RolloutBatch:
        if self._raw_obs is None:
            raise RuntimeError("call reset() before collect()")
        T, N, G = n_steps, self.n_envs, self.group_size
        policy = self.policy
        buf: dict[str, Any] = {
            "obs": np.zeros((T, N, *self.obs_shape), np.float32),
            "next_obs": np.zeros((T, N, *self.obs_shape), np.float32),
            "raw_obs": np.zeros((T, N, *self.obs_shape), np.float32),
            "raw_next_obs": np.zeros((T, N, *self.obs_shape), np.float32),
            "rewards": np.zeros((T, N), np.float32),
            "raw_rewards": np.zeros((T, N), np.float32),
            "terminated": np.zeros((T, N), bool),
            "truncated": np.zeros((T, N), bool),
            "episode_step": np.zeros((T, N), np.int64),
        }
        actions, log_probs, noises, group_rewards = [], [], [], []
        raw_obs = self._raw_obs
        obs = self.obs_normalizer(raw_obs)
        for t in range(T):
            action, log_prob, noise = policy.act(obs, G)
            next_raw, reward, terminated, truncated, info = self.envs.step(policy.env_action(action[:, 0]))
            done = terminated | truncated
            true_next = final_observations(next_raw, done, info)
            if G > 1:
                group_rewards.append(self._group_rewards(raw_obs, action, reward))

            self.obs_normalizer.update(next_raw)
            buf["obs"][t], buf["raw_obs"][t] = obs, raw_obs
            buf["next_obs"][t], buf["raw_next_obs"][t] = self.obs_normalizer(true_next), true_next
            buf["raw_rewards"][t] = reward
            buf["rewards"][t] = self.reward_scaler(np.asarray(reward, np.float64), done)
            buf["terminated"][t], buf["truncated"][t] = terminated, truncated
            buf["episode_step"][t] = self._ep_length
            actions.append(action)
            log_probs.append(log_prob)
            noises.append(noise)

            self._count_episodes(reward, done)
            raw_obs = next_raw
            obs = self.obs_normalizer(raw_obs)
        self._raw_obs = raw_obs

        batch = {k: torch.from_numpy(v) for k, v in buf.items()}
        return RolloutBatch(
            **batch,
            actions=torch.from_numpy(np.stack(actions)),
            log_probs=torch.from_numpy(np.stack(log_probs)),
            noise=torch.from_numpy(np.stack(noises)),
            group_rewards=torch.from_numpy(np.stack(group_rewards)) if G > 1 else None,
            time_limit=self.time_limit,
        )

    def _count_episodes(self, reward: np.ndarray, done: np.ndarray) -> None:
        self._ep_return += reward
        self._ep_length += 1
        for i in np.flatnonzero(done):
            self.episode_returns.append(float(self._ep_return[i]))
            self.episode_lengths.append(int(self._ep_length[i]))
            self.episodes += 1
        self._ep_return[done] = 0.0
        self._ep_length[done] = 0

    def env_states(self) -> list[dict[str, Any]] | None:
        """What the envs learn (e.g. a discriminator), one state per sub-env, or None."""
        return self.hooks.env_states()

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "episode_returns": list(self.episode_returns),
            "episode_lengths": list(self.episode_lengths),
            "episodes": self.episodes,
        }
        env_states = self.env_states()
        if env_states is not None:  # e.g. a discriminator trained inside the env
            state["env_states"] = env_states
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episode_returns.extend(state["episode_returns"])
        self.episode_lengths.extend(state["episode_lengths"])
        self.episodes = int(state["episodes"])
        if "env_states" in state:
            self.hooks.load_env_states(state["env_states"])


class UncountedCollector:
    """A collector whose steps are not counted: it uses the run's normaliser and reward-scaler objects
    but leaves their statistics as they are (``training`` off while it collects), and its episodes
    are never reported, so the run differs from a plain one only by what the agent does with them
    (the loop offers these to agents, ``BindContext.uncounted_collector``)."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    @contextlib.contextmanager
    def _frozen(self) -> Iterator[None]:
        norm, scaler = self.collector.obs_normalizer, self.collector.reward_scaler
        saved = norm.training, scaler.training
        norm.training = scaler.training = False
        try:
            yield
        finally:
            norm.training, scaler.training = saved

    def reset(self, seed: int) -> None:
        with self._frozen():
            self.collector.reset(seed)

    def collect(self, n_steps: int) -> RolloutBatch:
        with self._frozen():
            return self.collector.collect(n_steps)
