"""Observations that keep what the env clips away — for MBMF's dynamics model only (issue 24 item 2).

Hopper-v5 and Walker2d-v5 clip joint velocities to ±10 in their observation
(``np.clip(self.data.qvel, -10, 10)`` in Gymnasium's ``_get_obs``), so their observation is not a
state: no model of it can predict past a clipped step (``shared/findings/mbmf-cv-limits.md``: 37 % of
one Walker2d batch's observations had a clipped velocity; only 2 % of 16-step windows were clean).

:class:`UnclippedVelocity` puts the simulator's unclipped ``qvel`` back in the observation's velocity
slice, and tells the observation normaliser to apply the env's own clip first (``pre_clip``). So the
policy and critic — in the real rollout and in the model's imagined one — see exactly the env's own
observation (clipping is idempotent, the saved policy runs unchanged on the plain env), while the
model, which reads the raw observation, learns the unclipped state. The estimator stays unbiased: the
model is any function, and the policy's input map (clip, then normalise) is a fixed function of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from rlcv.errors import RlcvError

VELOCITY_CLIP = 10.0  # the bound Gymnasium's Hopper / Walker2d _get_obs clip qvel to
CLIPPING_ENVS = ("HopperEnv", "Walker2dEnv")  # MuJoCo classes whose observation ends with clip(qvel)
MODEL_OBSERVATIONS = ("env", "unclipped")


class UnclippedVelocity(gym.ObservationWrapper):
    """The env's observation with the velocity slice replaced by the simulator's unclipped ``qvel``;
    ``pre_clip`` = the (low, high) per dimension that gives back the env's own observation."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base: Any = env.unwrapped
        shape = env.observation_space.shape
        if type(base).__name__ not in CLIPPING_ENVS or shape is None or len(shape) != 1:
            name = env.spec.id if env.spec else type(base).__name__
            raise RlcvError(
                f"model_observation=unclipped needs an env whose observation clips joint velocities "
                f"(Hopper-v5, Walker2d-v5), got {name}; drop --set model_observation=unclipped."
            )
        dim, nv = shape[0], base.data.qvel.size
        self.velocity = slice(dim - nv, dim)  # _get_obs ends with clip(qvel)
        low, high = np.full(dim, -np.inf), np.full(dim, np.inf)
        low[self.velocity], high[self.velocity] = -VELOCITY_CLIP, VELOCITY_CLIP
        self.pre_clip = (low, high)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        qvel = np.asarray(self.env.unwrapped.data.qvel, dtype=np.float64).ravel()  # type: ignore[attr-defined]
        # A Gymnasium version whose observation is laid out otherwise must fail loudly, not silently
        # feed the model another quantity.
        if not np.allclose(np.clip(qvel, -VELOCITY_CLIP, VELOCITY_CLIP), observation[self.velocity]):
            raise RuntimeError("the observation's last entries are not clip(qvel, -10, 10)")
        out = np.array(observation, dtype=np.float64)
        out[self.velocity] = qvel
        return out


def model_observation(config: Any) -> str:
    """The estimator's ``model_observation`` setting ("env" when the agent has no such setting)."""
    return str(getattr(getattr(config, "estimator_settings", None), "model_observation", "env"))


def env_wrappers(config: Any) -> list[Callable[[gym.Env], gym.Wrapper]]:
    """Wrappers the training envs need for this config (the unclipped velocities, when asked for)."""
    return [UnclippedVelocity] if model_observation(config) == "unclipped" else []


def pre_clip(envs: gym.vector.VectorEnv) -> tuple[np.ndarray, np.ndarray] | None:
    """The per-dimension clip the normaliser applies first (None when the envs are not wrapped)."""
    try:
        return envs.get_attr("pre_clip")[0]  # type: ignore[attr-defined]
    except AttributeError:
        return None
