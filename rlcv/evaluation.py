"""Deterministic evaluation: of a policy in memory (:func:`evaluate`, called by the training loops for
their ``eval_*`` columns) and of a finished native run's saved policy (:func:`evaluate_run`, `rlcv eval`).

SB3 runs are evaluated by :func:`rlcv.sb3_backend.evaluate_run`; :func:`rlcv.launch.evaluate_run`
chooses between the two, so this module never imports a backend.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from rlcv import checkpoint
from rlcv.agents import agent_class, build_agent_config
from rlcv.env_factory import make_env
from rlcv.errors import RlcvError
from rlcv.normalize import ObsNormalizer
from rlcv.policies import Policy
from rlcv.run_dir import RunDir


class EvalPolicy(Protocol):
    """What :func:`evaluate` calls on a policy: every :class:`rlcv.policies.Policy`, and SB3's adapter
    (:class:`rlcv.sb3_backend._SB3Policy`)."""

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action [B, *action_shape] for normalised observations [B, *obs_shape]."""
        ...

    def env_action(self, action: np.ndarray) -> np.ndarray:
        """Map one action to what the env accepts."""
        ...


def _check_renders(env_id: str) -> None:
    """--video needs an env class that declares the rgb_array render mode (checked on the class, before
    gym.make would warn and the constructor fail on an unexpected render_mode)."""
    from gymnasium.envs.registration import load_env_creator

    entry = gym.spec(env_id).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    modes = (getattr(creator, "metadata", None) or {}).get("render_modes", [])
    if "rgb_array" not in modes:
        raise RlcvError(
            f"{env_id} cannot render frames (render modes: {modes or 'none'}), so --video has none."
        )


def evaluate(
    policy: EvalPolicy,
    env_id: str,
    *,
    episodes: int,
    obs_normalizer: ObsNormalizer,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    video_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` episodes with the policy's mode action and frozen normaliser statistics.

    Episode i is reset with seed ``seed + i``, so an evaluation is reproducible.
    """
    make_kwargs: dict[str, Any] = {}
    if video_dir is not None:
        _check_renders(env_id)
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on machines without a screen
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic-control) without a display
        make_kwargs["render_mode"] = "rgb_array"
    env = make_env(env_id, env_kwargs, **make_kwargs)
    if video_dir is not None:
        env = gym.wrappers.RecordVideo(
            env, str(video_dir), episode_trigger=lambda _: True, disable_logger=True
        )
    was_training = obs_normalizer.training
    obs_normalizer.training = False
    returns, lengths, summaries = [], [], []
    try:
        for i in range(episodes):
            raw, _ = env.reset(seed=seed + i)
            done, total, length = False, 0.0, 0
            while not done:
                with torch.no_grad():
                    obs = torch.from_numpy(obs_normalizer(np.asarray(raw)[None]))
                    action = policy.mode(obs)[0].numpy()
                raw, reward, terminated, truncated, info = env.step(policy.env_action(action))
                total += float(reward)
                length += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(length)
            summaries.append(_episode_numbers(info))
    finally:
        obs_normalizer.training = was_training
        env.close()
    result: dict[str, Any] = {
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "episodes": episodes,
        "returns": returns,
        "mean_length": float(np.mean(lengths)),
    }
    metrics = {
        k: float(np.mean([s[k] for s in summaries])) for k in summaries[0] if all(k in s for s in summaries)
    }
    if metrics:
        result["metrics"] = metrics
    return result


def _episode_numbers(info: dict[str, Any]) -> dict[str, float]:
    """The numbers an env reports about a finished episode in ``info["episode"]`` (e.g. the inner
    task's test accuracy of rlcv/OnlineHPO-v0), averaged by :func:`evaluate` as ``metrics``; Gymnasium's
    own episode statistics (r, l, t) are the return and length already shown."""
    episode = info.get("episode")
    if not isinstance(episode, dict):
        return {}
    return {
        k: float(v)
        for k, v in episode.items()
        if k not in ("r", "l", "t")
        and not k.endswith("seed")  # an identifier, not a number to average
        and isinstance(v, int | float | np.number)
        and not isinstance(v, bool | np.bool_)
    }


def load_policy(run_dir: str | Path | RunDir) -> tuple[dict[str, Any], Policy, ObsNormalizer]:
    """A native run's final policy (``policy.pt``/``model.pt``, else the last checkpoint), its
    config.yaml and its frozen observation normaliser."""
    run = _as_run(run_dir)
    meta = run.read_meta()
    cfg = meta["config"]
    final = run.final_policy
    if final is not None:
        state = checkpoint.load(final)
        policy_state, norm_state = state.get("policy"), state.get("obs_normalizer")
    else:
        state = checkpoint.load(run.checkpoint())
        agent = state.get("agent")
        policy_state = agent.get("policy") if isinstance(agent, dict) else None
        norm_state = state.get("obs_normalizer")
    if not isinstance(policy_state, dict) or not isinstance(norm_state, dict):
        raise RlcvError(f"'{run}' holds no policy weights; the policy file is from another tool or damaged.")
    env = make_env(meta["env"], cfg.get("env_kwargs"))
    # The run's own agent builds the policy, so agents with their own policy classes (controllers,
    # generators) evaluate like PPO does.
    config = build_agent_config(meta["algo"], cfg)
    agent = agent_class(meta["algo"])(
        observation_space=env.observation_space, action_space=env.action_space, config=config
    )
    policy = agent.policy
    normalizer = ObsNormalizer(
        env.observation_space.shape, enabled=cfg["normalize_obs"], clip=cfg["clip_obs"]
    )
    env.close()
    try:
        policy.load_state_dict(policy_state)
        normalizer.load_state_dict(norm_state)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RlcvError(f"the policy in '{run}' does not match its config.yaml ({exc}).") from exc
    normalizer.training = False
    return meta, policy, normalizer


def evaluate_run(
    run_dir: str | Path | RunDir,
    *,
    episodes: int,
    seed: int = 0,
    video_dir: str | None = None,
    grid_path: str | None = None,
) -> dict[str, Any]:
    """`rlcv eval` of a native run: episodes of its saved policy, or the env's own metrics for envs
    with an ``evaluate_policy`` hook (generator envs)."""
    run = _as_run(run_dir)
    meta, policy, normalizer = load_policy(run)
    env = make_env(meta["env"], meta["config"].get("env_kwargs"))
    if callable(getattr(env.unwrapped, "evaluate_policy", None)):
        try:
            return _eval_with_env_hook(
                run,
                env,
                policy,
                normalizer,
                episodes=episodes,
                seed=seed,
                video_dir=video_dir,
                grid_path=grid_path,
            )
        finally:
            env.close()
    env.close()
    if grid_path is not None:
        raise RlcvError(
            f"--grid draws samples of generator envs (e.g. rlcv/BGAN-Digits-v0); {meta['env']} is not "
            f"one. Use --video DIR."
        )
    return evaluate(
        policy,
        meta["env"],
        episodes=episodes,
        obs_normalizer=normalizer,
        seed=seed,
        env_kwargs=meta["config"].get("env_kwargs"),
        video_dir=video_dir,
    )


def _as_run(run_dir: str | Path | RunDir) -> RunDir:
    return run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)


def _saved_env_state(run: RunDir) -> dict[str, Any] | None:
    """State an env learned during training (e.g. a discriminator), from the final policy file or last.pt."""
    final = run.final_policy
    if final is not None:
        return checkpoint.load(final).get("env_state")
    states = checkpoint.load(run.checkpoint()).get("collector", {}).get("env_states")
    return states[0] if states else None


def _eval_with_env_hook(
    run: RunDir,
    env: Any,
    policy: Policy,
    normalizer: ObsNormalizer,
    *,
    episodes: int,
    seed: int,
    video_dir: str | None,
    grid_path: str | None,
) -> dict[str, Any]:
    """Envs with an ``evaluate_policy`` hook (generator envs) evaluate with their own metrics, after
    loading what they learned during training."""
    if video_dir is not None:
        raise RlcvError("--video is not available for this env; use --grid FILE.png for a sample grid.")
    state = _saved_env_state(run)
    if state is not None:
        try:
            env.unwrapped.load_state_dict(state)
        except (RuntimeError, KeyError) as exc:
            raise RlcvError(
                f"the env state saved in '{run}' does not match its config.yaml ({exc})."
            ) from exc
    result = env.unwrapped.evaluate_policy(
        policy, episodes=episodes, seed=seed, obs_normalizer=normalizer, grid_path=grid_path
    )
    if grid_path is not None and not Path(grid_path).is_file():  # an env whose samples are no images
        raise RlcvError(
            f"--grid draws sample images of generator envs (rlcv/BGAN-*); {run.read_meta()['env']} draws "
            "none. Drop --grid."
        )
    return result
