r"""Equilibrium learners for ``rlcv/KnapsackGame-v0`` (and ``rlcv/LotSizingGame-v0``) in the agent loop.

The env is one player p of a knapsack integer programming game (:mod:`rlcv.envs.knapsack_game`); the
agent reads the game from the env it is bound to and keeps a mixed profile σ of *all* players. Its
policy plays σ_p (a finite mixture of pure item selections). Every update is one outer iteration of
the method, and the exact NashConv of σ (:mod:`rlcv.games.nash_conv`, HiGHS best responses) is logged,
so every method is graded against the MIP.

=================  =====================================================================================
algo (``--algo``)  one update
=================  =====================================================================================
``ipg-sgm``        one SGM iteration: sampled NE by PNS, the first player with a gain > 1e-6 adds its
                   exact best response (:mod:`rlcv.games.sgm`); converged once nobody gains
``ipg-msgm``       the same with m-SGM (the new strategy forced into the next support, backtracking)
``ipg-fp``         fictitious play: every player adds its exact best response to the others'
                   empirical mixtures; σ = the empirical frequencies
=================  =====================================================================================

The RL-oracle variants (``ipg-psro`` with a policy-gradient oracle, ``ipg-pg`` self-play) live in
:mod:`rlcv.agents.ipg_rl`. The rollouts the loop collects only feed ``reward_mean`` (the
payoff of σ_p against the env's opponent profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.config import CommonConfig, check
from rlcv.env_hooks import BindContext
from rlcv.errors import RlcvError
from rlcv.policies import Policy, PolicySample
from rlcv.rollout import RolloutBatch

IPG_METRICS = ("nash_conv", "iteration", "converged", "support_size", "sampled_size", "reward_mean")


@dataclass(kw_only=True)
class IPGConfig(CommonConfig):
    n_steps: int = 1  # env steps per update (rollouts only feed reward_mean)
    tol: float = 1e-6  # a best response must gain more than this to be added (SGM, m-SGM)

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.n_steps >= 1, "n_steps must be >= 1")
        check(self.tol >= 0, "tol must be >= 0")


class MixturePolicy(Policy):
    """Plays a finite mixture: row i of ``strategies`` [s, n] with probability ``probs[i]``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.action_shape = (n,)
        self.noise_shape = (n,)
        self.strategies = torch.zeros(1, n)
        self.probs = torch.ones(1)

    def set_profile(self, strategies: np.ndarray, probs: np.ndarray) -> None:
        self.strategies = torch.as_tensor(strategies, dtype=torch.float32)
        self.probs = torch.as_tensor(probs, dtype=torch.float64)

    def sample(self, obs: torch.Tensor, group_size: int = 1) -> PolicySample:
        b = obs.shape[0]
        idx = torch.multinomial(self.probs.float(), b * group_size, replacement=True).reshape(b, group_size)
        action = self.strategies[idx]
        return PolicySample(action=action, log_prob=self._log_prob(action), noise=torch.zeros_like(action))

    def _log_prob(self, action: torch.Tensor) -> torch.Tensor:
        match = (action[..., None, :] == self.strategies).all(-1).double()  # [..., s]
        return torch.log((match * self.probs).sum(-1)).float()

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self._log_prob(action)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        p = self.probs[self.probs > 0]
        return torch.full((obs.shape[0],), float(-(p * p.log()).sum()))

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.strategies[int(torch.argmax(self.probs))].expand(obs.shape[0], -1).clone()


class ExactOracleAgent:
    """Base of the exact-oracle learners (an :class:`~rlcv.agents.base.Agent`)."""

    config_cls: ClassVar[type[IPGConfig]] = IPGConfig
    config: IPGConfig
    algo: ClassVar[str]
    metric_names: tuple[str, ...] = IPG_METRICS

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: IPGConfig) -> None:
        # MultiBinary(n): rlcv/KnapsackGame-v0; Box(2T): rlcv/LotSizingGame-v0 (strategies are encoded)
        if (
            not isinstance(action_space, (gym.spaces.MultiBinary, gym.spaces.Box))
            or len(action_space.shape) != 1
        ):
            raise RlcvError(
                f"{self.algo} plays rlcv/KnapsackGame-v0 (MultiBinary(n)) or rlcv/LotSizingGame-v0 "
                f"(Box(2T)); got {action_space}."
            )
        self.config = config
        self.policy = MixturePolicy(int(action_space.shape[0]))
        self.updates = 0
        self.game: Any = None
        self.player = 0
        self.strategies: list[np.ndarray] = []
        self.probs: list[np.ndarray] = []
        self.converged = False
        self.encode: Any = None

    @property
    def n_steps(self) -> int:
        return int(self.config.n_steps)

    @property
    def group_size(self) -> int:
        return 1

    def bind(self, context: BindContext) -> None:
        """Read the game and the agent's player from a copy of the env it plays."""
        env = gym.make(context.env_id, **context.env_kwargs).unwrapped
        if not hasattr(env, "game") or not hasattr(env, "player"):
            raise RlcvError(f"{self.algo} needs --env rlcv/KnapsackGame-v0, not {context.env_id}.")
        self.game, self.player = env.game, int(env.player)
        # the lot-sizing env's actions are (setups, quantity fractions), not strategies: encode them
        self.encode = getattr(env, "action_of", None)
        env.close()
        self.replay()

    def replay(self) -> None:
        """Recompute σ after ``self.updates`` iterations (deterministic, so a resumed run continues)."""
        self.advance(self.updates)

    def advance(self, iterations: int) -> None:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        if self.game is not None:
            self.replay()

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        from rlcv.games.nash_conv import nash_conv

        self.updates += 1
        self.advance(self.updates)
        nc = nash_conv(self.game, self.strategies, self.probs)
        return {
            "nash_conv": nc,
            "iteration": float(self.updates),
            "converged": float(self.converged),
            "support_size": float(np.sum(self.probs[self.player] > 0)),
            "sampled_size": float(len(self.strategies[self.player])),
            "reward_mean": float(batch.raw_rewards.double().mean()),
        }

    def _publish(self) -> None:
        rows = self.strategies[self.player]
        if self.encode is not None:
            rows = np.array([self.encode(x) for x in rows])
        self.policy.set_profile(rows, self.probs[self.player])


class SGMAgent(ExactOracleAgent):
    """``ipg-sgm``: σ after k SGM iterations (module docstring)."""

    algo: ClassVar[str] = "ipg-sgm"
    method: ClassVar[str] = "sgm"

    def advance(self, iterations: int) -> None:
        from rlcv.games.sgm import solve

        res = solve(self.game, method=self.method, tol=self.config.tol, max_iter=max(iterations, 1))
        self.strategies, self.probs, self.converged = res.strategies, res.probs, res.solved
        self._publish()


class MSGMAgent(SGMAgent):
    """``ipg-msgm``: the same with m-SGM."""

    algo: ClassVar[str] = "ipg-msgm"
    method: ClassVar[str] = "m-sgm"


class FictitiousPlayAgent(ExactOracleAgent):
    """``ipg-fp``: fictitious play with exact best responses; σ = empirical frequencies."""

    algo: ClassVar[str] = "ipg-fp"

    def advance(self, iterations: int) -> None:
        from rlcv.games.best_response import best_response
        from rlcv.games.nash_conv import expected_strategies

        g = self.game
        zeros = [np.zeros(g.n) for _ in range(g.m)]
        rows = [[best_response(g, p, zeros).x] for p in range(g.m)]
        counts = [[1] for _ in range(g.m)]
        for _ in range(iterations):
            S = [np.array(r) for r in rows]
            xbar = expected_strategies(S, [np.array(c) / sum(c) for c in counts])
            for p in range(g.m):
                x = best_response(g, p, xbar).x
                hit = [i for i, r in enumerate(rows[p]) if np.array_equal(r, x)]
                if hit:
                    counts[p][hit[0]] += 1
                else:
                    rows[p].append(x)
                    counts[p].append(1)
        self.strategies = [np.array(r) for r in rows]
        self.probs = [np.array(c, dtype=np.float64) / sum(c) for c in counts]
        self.converged = False  # fictitious play only converges in the limit
        self._publish()
