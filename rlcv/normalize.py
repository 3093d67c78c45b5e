"""Observation normalisation and reward scaling, with state saved in checkpoints.

Same semantics as SB3's ``VecNormalize`` (so rlcv and SB3 runs are comparable): observations are
standardised by running mean/var and clipped; rewards are divided by the running std of the
discounted return. Statistics are updated only while ``training`` is true, and frozen for
evaluation and for the variance harness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd

from rlcv.errors import RlcvError


def rms_state(rms: RunningMeanStd) -> dict[str, Any]:
    """Running statistics as plain arrays (checkpoints hold no pickled objects); also used for SB3's
    VecNormalize, whose statistics are the same RunningMeanStd."""
    return {"mean": rms.mean.copy(), "var": rms.var.copy(), "count": float(rms.count)}


def load_rms(rms: RunningMeanStd, state: dict[str, Any]) -> None:
    """Inverse of :func:`rms_state`, in place."""
    rms.mean = np.array(state["mean"], dtype=np.float64)
    rms.var = np.array(state["var"], dtype=np.float64)
    rms.count = float(state["count"])


class ObsNormalizer:
    def __init__(
        self,
        shape: tuple[int, ...] | None,
        *,
        enabled: bool,
        clip: float = 10.0,
        eps: float = 1e-8,
        pre_clip: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """``pre_clip``: per-dimension (low, high) applied before anything else — the env's own clip,
        when the raw observation carries what the env would clip away (rlcv.unclipped)."""
        # ``shape`` is an observation space's ``.shape``, which Gymnasium types as optional
        # (None for spaces without a fixed array shape, such as Graph or Sequence).
        if shape is None:
            raise RlcvError(
                "the observation space has no fixed shape to normalise; flatten it with a wrapper "
                "(gymnasium.wrappers.FlattenObservation)."
            )
        self.enabled, self.clip, self.eps, self.pre_clip = enabled, clip, eps, pre_clip
        self.rms = RunningMeanStd(shape=shape)
        self.training = True

    def _pre(self, obs: np.ndarray) -> np.ndarray:
        return obs if self.pre_clip is None else np.clip(obs, *self.pre_clip)

    def update(self, obs: np.ndarray) -> None:
        if self.enabled and self.training:
            self.rms.update(self._pre(obs).reshape(-1, *self.rms.mean.shape))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = self._pre(obs)
        if not self.enabled:
            return obs.astype(np.float32, copy=False)
        out = (obs - self.rms.mean) / np.sqrt(self.rms.var + self.eps)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def torch_transform(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """A differentiable torch version with the current statistics frozen (for imagined states)."""
        pre = self._torch_pre()
        if not self.enabled:
            return pre
        mean = torch.as_tensor(self.rms.mean, dtype=torch.float32)
        std = torch.as_tensor(np.sqrt(self.rms.var + self.eps), dtype=torch.float32)
        clip = self.clip
        return lambda x: ((pre(x) - mean.to(x.dtype)) / std.to(x.dtype)).clamp(-clip, clip)

    def _torch_pre(self) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.pre_clip is None:
            return lambda x: x
        low, high = (torch.as_tensor(b, dtype=torch.float64) for b in self.pre_clip)
        # clamp with tensor bounds: a.e. differentiable (slope 0 where the env clips, as the env does)
        return lambda x: torch.clamp(x, low.to(x.dtype), high.to(x.dtype))

    def state_dict(self) -> dict[str, Any]:
        return rms_state(self.rms)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_rms(self.rms, state)


class RewardScaler:
    def __init__(self, n_envs: int, *, enabled: bool, gamma: float, clip: float = 10.0, eps: float = 1e-8):
        self.enabled, self.gamma, self.clip, self.eps = enabled, gamma, clip, eps
        self.rms = RunningMeanStd(shape=())
        self.returns = np.zeros(n_envs)
        self.training = True

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return rewards.astype(np.float32, copy=False)
        if self.training:
            self.returns = self.returns * self.gamma + rewards
            self.rms.update(self.returns)
            self.returns[dones] = 0.0
        scaled = rewards / np.sqrt(self.rms.var + self.eps)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def scale(self) -> float:
        """The current factor learning rewards are multiplied by (1 when disabled; clipping aside)."""
        return float(1.0 / np.sqrt(self.rms.var + self.eps)) if self.enabled else 1.0

    def state_dict(self) -> dict[str, Any]:
        return {**rms_state(self.rms), "returns": self.returns.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_rms(self.rms, state)
        self.returns = np.array(state["returns"], dtype=np.float64)
