"""Deterministic evaluation of a policy, optionally recording videos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlcv.env_factory import make_env
from rlcv.normalize import ObsNormalizer
from rlcv.policies import Policy


def evaluate(
    policy: Policy,
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
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on machines without a screen
        make_kwargs["render_mode"] = "rgb_array"
    env = make_env(env_id, env_kwargs, **make_kwargs)
    if video_dir is not None:
        env = gym.wrappers.RecordVideo(
            env, str(video_dir), episode_trigger=lambda _: True, disable_logger=True
        )
    was_training = obs_normalizer.training
    obs_normalizer.training = False
    returns, lengths = [], []
    try:
        for i in range(episodes):
            raw, _ = env.reset(seed=seed + i)
            done, total, length = False, 0.0, 0
            while not done:
                with torch.no_grad():
                    obs = torch.from_numpy(obs_normalizer(np.asarray(raw)[None]))
                    action = policy.mode(obs)[0].numpy()
                raw, reward, terminated, truncated, _ = env.step(policy.env_action(action))
                total += float(reward)
                length += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(length)
    finally:
        obs_normalizer.training = was_training
        env.close()
    return {
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "episodes": episodes,
        "returns": returns,
        "mean_length": float(np.mean(lengths)),
    }
