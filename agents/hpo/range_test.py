r"""``hpo-range``: a learning-rate range test inside the run, then a cosine schedule from what it found.

Meant for ``rlcv/OnlineHPO-v0`` with ``lr_schedule="cosine"`` (the controlled η is the scale of a
cosine schedule) and a wide ``max_factor`` (one action can move η anywhere in ``lr_range``). Why: the
older controllers start at η = 0.01 and move it by bounded multipliers, so on the MNIST-1D CNN they
never reach the useful range (0.1–0.3) within 30 decisions (``results/hpo.md``).

Per env, from the episode's first observation (budget used 0):

1. *probe*: the first env step runs at the start η; after each env step whose validation loss fell
   below the previous one (by more than ``tol``, relative), η ← η · ``growth`` — the run itself is the
   range test (Smith, "Cyclical learning rates", 2017), and its steps are training steps, not extra
   runs. The probe stops at the first env step that did not improve, after ``max_probes`` improving
   steps, or at the top of ``lr_range``.
2. *hold*: η ← ``backoff`` × the last η that improved (the one before the first that did not; a
   ``backoff`` of ``growth`` is the first η that did not improve), and the env's cosine schedule takes
   it from there. ``guard`` > 0: during the hold a validation loss more
   than ``guard`` (relative) above the best seen halves η (a run that became unstable calms down).

The controller changes only η (batch size and L2 stay at the env's values), so it costs one run in
SGD steps and in examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch

from rlcv.agents.hpo.base import ControllerAgent, ControllerConfig, ControllerPolicy, log2_hparam
from rlcv.config import check
from rlcv.envs.online_hpo import OBS
from rlcv.settings import setting

_STATE = ("probing", "prev_val", "best_val", "good_log2", "probes")


@dataclass(kw_only=True)
class RangeTestConfig(ControllerConfig):
    growth: float = 2.0  # η multiplier per improving probe step
    backoff: float = 0.5  # the held η is backoff × the last improving η (> 1: past it, toward the failing η)
    max_probes: int = 10  # improving probe steps at most
    tol: float = 0.0  # an env step "improved" if val loss < previous · (1 − tol)
    guard: float = 0.0  # > 0: halve η when val loss exceeds the best by this fraction during the hold
    controlled: list[str] = setting(factory=lambda: ["lr"], help="hyper-parameters the controller sets")

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.growth > 1.0, "growth must be > 1")
        check(self.backoff > 0.0, "backoff must be > 0")
        check(self.max_probes >= 1, "max_probes must be >= 1")
        check(0.0 <= self.tol < 1.0 and self.guard >= 0.0, "need 0 <= tol < 1 and guard >= 0")
        check(self.controlled == ["lr"], "hpo-range sets the learning rate only: controlled must be [lr]")


class RangeTestPolicy(ControllerPolicy):
    """Per-env state (sized by the first observation's batch): probing flag, previous / best validation
    loss, log2 of the last improving η and the number of improving probe steps."""

    def __init__(self, action_space: gym.spaces.Box, config: RangeTestConfig, log2_lr_max: float) -> None:
        super().__init__(action_space)
        self.config = config
        self.log2_growth = math.log2(config.growth)
        self.log2_backoff = math.log2(config.backoff)
        self.log2_lr_max = log2_lr_max
        self.state: dict[str, torch.Tensor] = {k: torch.zeros(0, dtype=torch.float64) for k in _STATE}

    def _restart(self, fresh: torch.Tensor, val: torch.Tensor) -> None:
        n = val.shape[0]
        if self.state["probing"].shape[0] != n:
            self.state = {k: torch.full((n,), math.nan, dtype=torch.float64) for k in _STATE}
            fresh = torch.ones(n, dtype=torch.bool)
        init = {
            "probing": torch.ones_like(val),
            "prev_val": val,
            "best_val": val,
            "good_log2": torch.full_like(val, math.nan),
            "probes": torch.zeros_like(val),
        }
        for k, value in init.items():
            self.state[k] = torch.where(fresh, value, self.state[k])

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        c = self.config
        val = obs[:, OBS["val_loss"]].double()
        current = log2_hparam(obs, "lr")
        fresh = obs[:, OBS["budget_used"]].double() <= 0
        self._restart(fresh, val)
        st = self.state
        probing = (st["probing"] > 0) & ~fresh
        improved = probing & (val < st["prev_val"] * (1.0 - c.tol))
        st["good_log2"] = torch.where(improved, current, st["good_log2"])
        st["probes"] = st["probes"] + improved.double()
        at_top = current + self.log2_growth > self.log2_lr_max
        grow = improved & (st["probes"] < c.max_probes) & ~at_top
        stop = probing & ~grow
        # the first step failed: no improving η was seen, so back off from one growth step below
        anchor = torch.where(torch.isnan(st["good_log2"]), current - self.log2_growth, st["good_log2"])
        action = torch.zeros(obs.shape[0], self.action_dim, dtype=torch.float64)
        action[:, 0] = torch.where(grow, torch.full_like(current, self.log2_growth), action[:, 0])
        action[:, 0] = torch.where(stop, anchor + self.log2_backoff - current, action[:, 0])
        holding = (st["probing"] <= 0) & ~fresh
        if c.guard > 0:
            unstable = holding & (val > st["best_val"] * (1.0 + c.guard))
            action[:, 0] = torch.where(unstable, torch.full_like(current, -1.0), action[:, 0])
        st["best_val"] = torch.where(fresh, val, torch.minimum(st["best_val"], val))
        st["probing"] = torch.where(stop, torch.zeros_like(val), st["probing"])
        st["prev_val"] = val
        return action


class RangeTestAgent(ControllerAgent):
    config_cls = RangeTestConfig
    config: RangeTestConfig
    algo = "hpo-range"

    policy: RangeTestPolicy

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return RangeTestPolicy(action_space, self.config, self.log2_lr_max)

    def __init__(
        self, *, observation_space: gym.Space, action_space: gym.Space, config: ControllerConfig
    ) -> None:
        assert isinstance(observation_space, gym.spaces.Box)
        self.log2_lr_max = float(observation_space.high[OBS["log10_lr"]]) * math.log2(10.0)
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "state": {k: v.clone() for k, v in self.policy.state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.policy.state = {k: v.clone() for k, v in state["state"].items()}
