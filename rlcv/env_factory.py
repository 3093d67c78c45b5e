"""Creating environments: id validation with suggestions, vector envs with same-step autoreset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode

import rlcv.envs  # noqa: F401  (registers rlcv/ envs)
from rlcv.errors import RlcvError, did_you_mean


def check_env_id(env_id: str) -> None:
    try:
        gym.spec(env_id)
    except gym.error.Error as exc:
        raise RlcvError(
            f"unknown environment id '{env_id}'.{did_you_mean(env_id, gym.registry.keys())}"
            f" List ids with `rlcv envs` (project envs) or gymnasium.pprint_registry()."
        ) from exc


def check_env_kwargs(env_kwargs: Any) -> None:
    """``env_kwargs`` must be a mapping with string keys, and rendering is rlcv's to choose: a window
    (``render_mode: human``) aborts the process on a machine without a display (GLFW), and training
    never needs one (record videos with `rlcv eval RUN --video DIR`)."""
    if not isinstance(env_kwargs, dict) or not all(isinstance(k, str) for k in env_kwargs):
        raise RlcvError(f"env_kwargs must be a mapping of names to values, got {env_kwargs!r}; fix it.")
    if "render_mode" in env_kwargs:
        raise RlcvError(
            "env_kwargs may not set render_mode (a window aborts without a display); drop it and record "
            "videos with `rlcv eval RUN_DIR --video DIR`."
        )


def _bad_kwargs(env_id: str, env_kwargs: dict[str, Any] | None, exc: Exception) -> RlcvError:
    text = str(exc).strip().splitlines()
    return RlcvError(
        f"{env_id} could not be created with env_kwargs {env_kwargs or {}} ({type(exc).__name__}: "
        f"{text[0] if text else 'no message'}); fix --env-kwargs."
    )


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None, **make_kwargs: Any) -> gym.Env:
    """One environment (for evaluation and videos)."""
    check_env_id(env_id)
    check_env_kwargs(env_kwargs or {})
    try:
        return gym.make(env_id, **(env_kwargs or {}), **make_kwargs)
    except RlcvError:
        raise
    except Exception as exc:  # an env constructor may raise anything for a bad argument
        raise _bad_kwargs(env_id, env_kwargs, exc) from exc


def make_vec_env(
    env_id: str,
    *,
    n_envs: int,
    vectorization: str = "sync",
    env_kwargs: dict[str, Any] | None = None,
    wrappers: Sequence[Callable[[gym.Env], gym.Wrapper]] = (),
) -> gym.vector.VectorEnv:
    """A Gymnasium vector env whose autoreset happens in the same step.

    With ``SAME_STEP`` autoreset the step that ends an episode returns the first observation of
    the next one and puts the true final observation in ``info["final_obs"]`` — exactly what the
    rollout needs to bootstrap at truncation and to train dynamics models on real transitions.
    """
    check_env_id(env_id)
    check_env_kwargs(env_kwargs or {})
    try:
        return gym.make_vec(
            env_id,
            num_envs=n_envs,
            vectorization_mode=vectorization,
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            wrappers=list(wrappers) or None,
            **(env_kwargs or {}),
        )
    except RlcvError:
        raise
    except Exception as exc:  # an env constructor may raise anything for a bad argument
        raise _bad_kwargs(env_id, env_kwargs, exc) from exc
