"""Synchronous population-based training (``hpo-pbt``) over the loop's envs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import torch

from rlcv.agents.hpo.base import HPO_METRICS, ControllerAgent, ControllerConfig, ControllerPolicy
from rlcv.config import check
from rlcv.errors import RlcvError
from rlcv.rollout import RolloutBatch
from rlcv.settings import setting


@dataclass(kw_only=True)
class PBTConfig(ControllerConfig):
    n_envs: int = 4  # the population
    n_steps: int = 5  # env steps between exploit/explore rounds ("ready")
    truncation: float = 0.25  # bottom fraction copies the top fraction
    perturb: list[float] = setting(
        factory=lambda: [0.8, 1.2], help="factors a PBT member's hyper-parameters are multiplied by"
    )

    # PBT's population starts from random configurations of the search space.
    env_kwarg_defaults: ClassVar[dict[str, Any]] = {"hparam_init": "random"}
    env_kwargs: dict[str, Any] = setting(
        factory=lambda: {"hparam_init": "random"},
        help="keyword arguments passed to gymnasium.make (also --env-kwargs)",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(0.0 < self.truncation <= 0.5, "truncation must be in (0, 0.5]")
        check(
            len(self.perturb) >= 1 and all(p > 0 for p in self.perturb), "perturb must hold positive factors"
        )


class HoldPolicy(ControllerPolicy):
    """Never changes the hyper-parameters (PBT changes them between rounds, through the env)."""

    def decide(self, obs: torch.Tensor, *, explore: bool) -> torch.Tensor:
        return torch.zeros(obs.shape[0], self.action_dim, dtype=torch.float64)


class PBTAgent(ControllerAgent):
    r"""Synchronous population-based training (Jaderberg et al., 2017) with the loop's envs as population.

    Every ``n_steps`` env steps (one rollout) all members are ranked by validation loss; members
    that fell behind in the budget (their run diverged and restarted) rank last. Each member of the
    bottom ``truncation`` fraction copies a uniformly chosen member of the top fraction — weights,
    hyper-parameters and progress, through the env's ``member_state`` — and then multiplies each
    controlled hyper-parameter by a factor drawn from ``perturb`` (×0.8 / ×1.2). Rounds are skipped
    while the population is at the start of a new episode. Compute = population × one run.
    """

    config_cls = PBTConfig
    config: PBTConfig
    algo = "hpo-pbt"
    metric_names: tuple[str, ...] = (*HPO_METRICS, "pbt_exploits", "pbt_best_val_loss")

    def make_policy(self, action_space: gym.spaces.Box) -> ControllerPolicy:
        return HoldPolicy(action_space)

    def explore(self, state: dict[str, Any], factors: torch.Tensor) -> dict[str, Any]:
        """PBT's explore step on a copied member: each controlled hyper-parameter × a random factor."""
        for name in self.config.controlled:
            state[name] = state[name] * float(factors[int(torch.randint(len(factors), ()))])
        return state

    def adapt(self, batch: RolloutBatch) -> dict[str, float]:
        if self.hooks is None:
            raise RlcvError(
                "hpo-pbt needs the loop's env hooks (a BindContext with hooks); run it with `rlcv train`."
            )
        states = self.hooks.member_states()
        progress = [s["steps_done"] for s in states]
        best_val = min(s["val_loss"] for s in states)
        n, top = len(states), max(1, math.ceil(self.config.truncation * len(states)))
        if n < 2 or max(progress) == 0 or 2 * top > n:
            return {"pbt_exploits": 0.0, "pbt_best_val_loss": best_val}
        lead = max(progress)
        key = [
            (p < lead, s["val_loss"] if math.isfinite(s["val_loss"]) else math.inf)
            for p, s in zip(progress, states, strict=True)
        ]
        order = sorted(range(n), key=lambda i: key[i])  # best first
        new: list[dict[str, Any] | None] = [None] * n
        factors = torch.tensor(self.config.perturb, dtype=torch.float64)
        for loser in order[-top:]:
            donor = order[int(torch.randint(top, ()))]
            new[loser] = self.explore(dict(states[donor]), factors)
        self.hooks.set_member_states(new)
        return {"pbt_exploits": float(top), "pbt_best_val_loss": best_val}
