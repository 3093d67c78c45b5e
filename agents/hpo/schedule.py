r"""``hpo-schedule``: a step schedule of the noise scale η/S, realised by learning-rate decay or by the
equivalent batch-size growth (Jastrzębski et al., "Three factors influencing minima in SGD";
Smith et al., "Don't decay the learning rate, increase the batch size").

At each budget milestone m_i (fractions of the episode's budget) the noise scale η/S drops by
``factor``; with ``mode: lr_decay`` η ← η / factor, with ``mode: batch_growth`` S ← S · factor. The
two are two policies of the same MDP (``rlcv/OnlineHPO-v0``) with the same η/S at every step::

    target(u) = h_0 · factor^{∓ #{i : u ≥ m_i}}      u = budget used, h_0 = the episode's start value

The policy remembers h_0 per env at the episode's first observation (budget used 0) and moves the
hyper-parameter to its target, within the env's max_factor per env step. The env counts its budget
in SGD steps, so batch growth processes more examples than lr decay (the bench reports both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import torch

from rlcv.agents.hpo.base import ControllerAgent, ControllerConfig, ControllerPolicy, log2_hparam
from rlcv.config import check
from rlcv.envs.online_hpo import HPARAMS, OBS
from rlcv.settings import setting

MODES = {"lr_decay": ("lr", -1.0), "batch_growth": ("batch_size", 1.0)}


@dataclass(kw_only=True)
class ScheduleConfig(ControllerConfig):
    mode: str = "lr_decay"  # lr_decay | batch_growth
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # fractions of the budget
    factor: float = 2.0  # noise-scale drop per milestone (more than the env's max_factor takes several steps)
    controlled: list[str] = setting(
        factory=lambda: ["lr", "batch_size"], help="hyper-parameters the controller sets"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.mode in MODES, f"mode must be one of {', '.join(MODES)}")
        check(all(0.0 < m < 1.0 for m in self.milestones), "milestones must be budget fractions in (0, 1)")
        check(self.factor > 1.0, "factor must be > 1")


class SchedulePolicy(ControllerPolicy):
    """``start_log2`` [N]: log2 of each env's start value (NaN before its first observation)."""

    milestones: torch.Tensor

    def __init__(self, action_space: gym.spaces.Box, config: ScheduleConfig) -> None:
        super().__init__(action_space)
        self.hparam, self.sign = MODES[config.mode]
        self.register_buffer("milestones", torch.tensor(sorted(config.milestones), dtype=torch.float64))
        self.log2_factor = math.log2(config.factor)
        # Sized by the first observation's batch (the number of envs): an attribute, checkpointed by
        # ScheduleAgent.state_dict (a buffer's shape must be known before loading).
        self.start_log2 = torch.zeros(0, dtype=torch.float64)

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        current = log2_hparam(obs, self.hparam)
        used = obs[:, OBS["budget_used"]].double()
        if self.start_log2.shape != current.shape:
            self.start_log2 = torch.full_like(current, math.nan)
        fresh = (used <= 0) | torch.isnan(self.start_log2)
        self.start_log2 = torch.where(fresh, current, self.start_log2)
        # budget_used arrives as float32: a milestone at exactly k/budget must count on its step.
        passed = (used[:, None] >= self.milestones[None, :] - 1e-6).sum(1).double()
        target = self.start_log2 + self.sign * self.log2_factor * passed
        out = torch.zeros(obs.shape[0], len(HPARAMS), dtype=torch.float64)
        out[:, HPARAMS.index(self.hparam)] = target - current
        return out


class ScheduleAgent(ControllerAgent):
    config_cls = ScheduleConfig
    config: ScheduleConfig
    algo = "hpo-schedule"

    policy: SchedulePolicy

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return SchedulePolicy(action_space, self.config)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "start_log2": self.policy.start_log2.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.policy.start_log2 = state["start_log2"].clone()
