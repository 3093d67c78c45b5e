"""One typed facade over the optional hooks of the training envs, made by the loop.

Agents, estimators and the collector reach the env's own methods only through :class:`EnvHooks`,
so nothing changes the live vector env behind the loop's back: what can be read or set is listed
here. Hooks (all optional on an env):

- ``group_rewards(obs, actions)``: score extra members of a group of actions (collector);
- ``differentiable_reward(obs, relaxed_action)``: a reward to back-propagate through (BGAN estimators);
- ``diagnostics()``: the env's own statistics, e.g. its discriminator's loss (BGAN agents);
- ``member_state`` (attribute): a population member's state, read and replaced by PBT;
- ``state_dict()`` / ``load_state_dict()``: what the env learns, saved in checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from rlcv.errors import RlcvError

if TYPE_CHECKING:
    from rlcv.normalize import ObsNormalizer, RewardScaler
    from rlcv.rollout import RolloutBatch


@runtime_checkable
class SupportsAttrs(Protocol):
    """A vector env that reads and sets sub-env attributes (Gymnasium's sync and async vector envs)."""

    def get_attr(self, name: str) -> tuple[Any, ...]: ...

    def set_attr(self, name: str, values: Any) -> None: ...


@runtime_checkable
class HasSubEnvs(Protocol):
    """A vector env whose sub-envs live in this process (Gymnasium's sync vector env)."""

    envs: list[gym.Env]


class EnvHooks:
    """The hooks of the sub-envs of one vector env (see the module docstring)."""

    def __init__(self, envs: gym.vector.VectorEnv) -> None:
        self._envs = envs

    @property
    def in_process(self) -> bool:
        """Sub-env methods are callable only when the sub-envs live in this process (sync)."""
        return getattr(self._envs, "envs", None) is not None

    def methods(self, name: str) -> list[Callable[..., Any]] | None:
        """The method ``name`` of every sub-env, or None when some sub-env (or an async env) lacks it."""
        subs = getattr(self._envs, "envs", None)
        if not subs:
            return None
        hooks = [getattr(e.unwrapped, name, None) for e in subs]
        found = [h for h in hooks if h is not None]
        return found if len(found) == len(hooks) else None

    def differentiable_reward(self) -> list[Callable[..., Any]] | None:
        """One ``differentiable_reward(obs, relaxed_action)`` per sub-env (None if not offered)."""
        return self.methods("differentiable_reward")

    def diagnostics(self) -> dict[str, float]:
        """The envs' ``diagnostics()``, averaged over sub-envs (NaN where no sub-env has a value)."""
        subs = getattr(self._envs, "envs", None) or []
        rows = [hook() for e in subs if (hook := getattr(e.unwrapped, "diagnostics", None)) is not None]
        if not rows:
            return {}
        return {
            k: float(np.nanmean([r[k] for r in rows])) if any(np.isfinite(r[k]) for r in rows) else math.nan
            for k in rows[0]
        }

    def group_rewards(self, index: int) -> Callable[..., Any] | None:
        """Sub-env ``index``'s ``group_rewards(obs, actions)``, or None."""
        return getattr(self._sub_env(index).unwrapped, "group_rewards", None)

    def env_name(self, index: int) -> str:
        env = self._sub_env(index)
        return env.spec.id if env.spec else str(env)

    def _sub_env(self, index: int) -> gym.Env:
        # Only asked for with group sampling, which the collector allows on sync vector envs only.
        assert isinstance(self._envs, HasSubEnvs), "per-sub-env hooks need a sync vector env"
        return self._envs.envs[index]

    def member_states(self) -> list[dict[str, Any]]:
        """Every sub-env's ``member_state`` (works for async vector envs too)."""
        return list(self._attr_env().get_attr("member_state"))

    def set_member_states(self, states: list[dict[str, Any] | None]) -> None:
        """Replace the ``member_state`` of the sub-envs whose entry is not None."""
        self._attr_env().set_attr("member_state", states)

    def _attr_env(self) -> SupportsAttrs:
        # gym.vector.VectorEnv itself declares no get_attr/set_attr; its sync and async subclasses do.
        if not isinstance(self._envs, SupportsAttrs):
            raise RlcvError(
                f"{type(self._envs).__name__} cannot read or set sub-env attributes (member_state); "
                f"use a sync or async Gymnasium vector env."
            )
        return self._envs

    def _stateful(self) -> list[Any] | None:
        subs = getattr(self._envs, "envs", None)
        if not subs or not all(callable(getattr(e.unwrapped, "state_dict", None)) for e in subs):
            return None
        return [e.unwrapped for e in subs]

    def env_states(self) -> list[dict[str, Any]] | None:
        """``state_dict()`` of every sub-env, when they all learn something (else None)."""
        envs = self._stateful()
        return None if envs is None else [e.state_dict() for e in envs]

    def load_env_states(self, states: list[dict[str, Any]]) -> None:
        envs = self._stateful()
        if envs is None:
            return
        if len(states) != len(envs):
            raise ValueError(f"checkpoint holds {len(states)} env states, run has {len(envs)} envs")
        for env, state in zip(envs, states, strict=True):
            env.load_state_dict(state)


class UncountedRollouts(Protocol):
    """Rollouts from envs whose steps the run does not count (:class:`rlcv.collector.UncountedCollector`)."""

    def collect(self, n_steps: int) -> RolloutBatch: ...


@dataclass(frozen=True)
class BindContext:
    """What the loop hands an agent (and the agent its estimator) once, before the first update."""

    env_id: str
    env_kwargs: dict[str, Any]
    obs_normalizer: ObsNormalizer
    reward_scaler: RewardScaler
    hooks: EnvHooks | None = None
    # Envs whose samples the run does not count: ``uncounted_collector(n_envs)`` builds n_envs more
    # envs run by the agent's policy with the run's normalisers frozen; the loop resets and closes them
    # with its own (the ppo-oracle agent's extra samples). None outside the native loop.
    uncounted_collector: Callable[[int], UncountedRollouts] | None = None
