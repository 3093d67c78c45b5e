r"""Equilibrium learners for ``rlcv/KnapsackGame-v0`` whose oracle is policy gradient, not the MIP.

Both keep a mixed profile σ of all players (finite mixtures of pure item selections), play σ_p through
:class:`~rlcv.agents.ipg.MixturePolicy` in the loop, and log the exact NashConv of σ (HiGHS best
responses, :mod:`rlcv.games.nash_conv`) every update, so they are graded against the MIP exactly like
``ipg-sgm`` / ``ipg-msgm`` / ``ipg-fp``.

Policy-gradient oracle (both agents). Player p's policy is the project's
:class:`~rlcv.policies.BernoulliPolicy` with no hidden layer on a constant observation, i.e. n free
logits l with π_l(x) = Π_i σ(l_i)^{x_i} σ(−l_i)^{1−x_i}. A drawn x is made feasible with the env's repair
(:meth:`KnapsackGameEnv.repair`, the env built for player p); its reward is the env's reward averaged
over the opponents' draws, which by bilinearity is exact:

    r(x) = u^p(repair(x), x̄^{−p}),   x̄^k = E_{σ^k}[x^k]   (k ≠ p).

One REINFORCE step on a batch x_1..x_B [B, n] with the leave-one-out baseline
b_j = (Σ_i r_i − r_j)/(B − 1) and scale s = std(r) + 1e-8 is

    ∇̂ = (1/B) Σ_j ((r_j − b_j)/s) ∇_l log π_l(x_j),

applied by Adam (learning rate ``lr``).

=================  =====================================================================================
algo (``--algo``)  one update
=================  =====================================================================================
``ipg-psro``       PSRO: σ = the first NE that PNS finds in the sampled game on the current sets S^p
                   (:func:`rlcv.games.support_enumeration.pns`; m ≥ 3: :mod:`rlcv.games.sampled_ne`);
                   every player runs the PG
                   oracle for ``pg_steps`` steps (fresh logits) against σ^{−p} and adds the best feasible
                   candidate (the policy's mode and its last batch, repaired, ranked by exact u^p against
                   σ^{−p}) to S^p if new; σ is re-solved on the grown sets. One oracle call per player per
                   update. ``converged`` = no player added a strategy (not a certificate: NashConv is).
``ipg-pg``         independent policy-gradient self-play: every player keeps its logits across updates
                   and takes ``pg_steps`` REINFORCE steps against the others' current profile; σ^p = the
                   empirical distribution of ``samples`` repaired draws from player p's policy (the
                   profile of the product distribution, as sampled), and NashConv is exact on that σ.
=================  =====================================================================================

Every oracle call runs under its own torch seed (drawn from the run's seed, the update and the player), so
a run is reproducible and a resumed run continues exactly: the state holds the sets / logits and counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from rlcv.agents.ipg import ExactOracleAgent, IPGConfig
from rlcv.config import check
from rlcv.env_hooks import BindContext
from rlcv.errors import RlcvError
from rlcv.policies import BernoulliPolicy
from rlcv.rollout import RolloutBatch

IPG_RL_METRICS = (
    "nash_conv",
    "iteration",
    "converged",
    "support_size",
    "sampled_size",
    "reward_mean",
    "oracle_calls",
    "oracle_gain",
)


@dataclass(kw_only=True)
class IPGPGConfig(IPGConfig):
    """The policy-gradient oracle's budget (both RL agents)."""

    pg_steps: int = 100  # REINFORCE steps per oracle call (ipg-psro) or per update (ipg-pg)
    lr: float = 0.3  # Adam learning rate on the logits
    samples: int = 64  # actions per REINFORCE step; ipg-pg also draws this many for σ^p

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.pg_steps >= 1, "pg_steps must be >= 1 (REINFORCE steps per oracle call)")
        check(self.lr > 0, "lr must be > 0")
        check(self.samples >= 2, "samples must be >= 2 (the leave-one-out baseline needs two draws)")


def _logit_policy(n: int) -> BernoulliPolicy:
    """n free logits: a BernoulliPolicy on a 1-dim constant observation with no hidden layer."""
    return BernoulliPolicy(1, n, hidden_sizes=[])


class _PGAgentBase(ExactOracleAgent):
    config_cls: ClassVar[type[IPGConfig]] = IPGPGConfig
    config: IPGPGConfig
    metric_names: tuple[str, ...] = IPG_RL_METRICS

    def __init__(self, *, observation_space: gym.Space, action_space: gym.Space, config: IPGPGConfig) -> None:
        if not isinstance(action_space, gym.spaces.MultiBinary):  # the PG oracles are item policies
            raise RlcvError(f"{self.algo} plays rlcv/KnapsackGame-v0 (MultiBinary(n)); got {action_space}.")
        super().__init__(observation_space=observation_space, action_space=action_space, config=config)
        self.envs: list[Any] = []
        self.oracle_calls = 0
        self.last_gain = 0.0
        # The loop seeds torch with the run's seed just before building the agent: draw the oracles' base.
        self.base_seed = int(torch.randint(0, 2**31 - 1, (1,)))

    def bind(self, context: BindContext) -> None:
        """One env per player (for its repair), built with the run's env kwargs."""
        first: Any = gym.make(context.env_id, **context.env_kwargs).unwrapped
        if not hasattr(first, "game") or not hasattr(first, "repair"):
            raise RlcvError(f"{self.algo} needs --env rlcv/KnapsackGame-v0, not {context.env_id}.")
        self.player = int(first.player)
        self.envs = [
            first
            if p == self.player
            else gym.make(context.env_id, **{**context.env_kwargs, "player": p}).unwrapped
            for p in range(first.game.m)
        ]
        self.game = first.game
        if not self.strategies:
            self.initialise()
        self._publish()

    def initialise(self) -> None:
        raise NotImplementedError

    def replay(self) -> None:  # state is restored from the checkpoint, not recomputed
        pass

    def _seed(self, p: int) -> int:
        return self.base_seed + self.updates * 1009 + p

    def _feasible_rows(self, p: int, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Repaired rows of X [B, n] and a [B] mask of those that are feasible."""
        g = self.game
        out = np.empty_like(X, dtype=np.float64)
        ok = np.empty(len(X), dtype=bool)
        for i, x in enumerate(X):
            x = x.astype(np.float64)
            out[i] = x if g.feasible(p, x) else self.envs[p].repair(x)
            ok[i] = g.feasible(p, out[i])
        return out, ok

    def _rewards(self, p: int, X: np.ndarray, xbar: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Repaired X [B, n] and r [B] = u^p(repair(x), x̄^{−p}); still infeasible: the penalty."""
        Xr, ok = self._feasible_rows(p, X)
        lin = self.game.linear_objective(p, xbar) - self.game.c[p]
        r = Xr @ lin + self.game.own_terms(p, Xr)
        return Xr, np.where(ok, r, self.envs[p].penalty)

    def _reinforce(
        self, policy: BernoulliPolicy, opt: torch.optim.Optimizer, p: int, xbar: list[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """One REINFORCE step (module docstring); returns the batch's repaired actions and rewards."""
        b = int(self.config.samples)
        obs = torch.zeros(1, 1)
        sample = policy.sample(obs, group_size=b)  # action [1, B, n], log_prob [1, B]
        X = sample.action[0].numpy()
        Xr, r = self._rewards(p, X, xbar)
        baseline = (r.sum() - r) / (b - 1)
        adv = torch.as_tensor((r - baseline) / (r.std() + 1e-8), dtype=torch.float32)
        loss = -(adv * sample.log_prob[0]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return Xr, r

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        from rlcv.games.nash_conv import nash_conv

        self.updates += 1
        self.advance(self.updates)
        self._publish()
        return {
            "nash_conv": nash_conv(self.game, self.strategies, self.probs),
            "iteration": float(self.updates),
            "converged": float(self.converged),
            "support_size": float(np.sum(self.probs[self.player] > 0)),
            "sampled_size": float(len(self.strategies[self.player])),
            "reward_mean": float(batch.raw_rewards.double().mean()),
            "oracle_calls": float(self.oracle_calls),
            "oracle_gain": float(self.last_gain),
        }


class PSROAgent(_PGAgentBase):
    """``ipg-psro``: PSRO with a policy-gradient oracle (module docstring)."""

    algo: ClassVar[str] = "ipg-psro"

    def initialise(self) -> None:
        """S^p = {repair(0)}, or the exact best response to 0 when repair cannot make 0 feasible."""
        from rlcv.games.best_response import best_response

        g = self.game
        zeros = [np.zeros(g.n) for _ in range(g.m)]
        self.strategies = []
        for p in range(g.m):
            x, ok = self._feasible_rows(p, np.zeros((1, g.n)))
            self.strategies.append(x if ok[0] else best_response(g, p, zeros).x[None, :])
        self._solve_meta()

    def _solve_meta(self) -> None:
        """σ = the first NE support enumeration finds on the sampled game."""
        from rlcv.games.sampled_ne import Polymatrix, ordered_pns
        from rlcv.games.support_enumeration import pns

        if self.game.m == 2:
            U = self.game.sampled_payoffs(self.strategies)
            ne = next(pns(U[0], U[1]), None)
        else:  # m ≥ 3: the exact polymatrix LP search (the polynomial-system PNS can miss equilibria)
            ne = next(ordered_pns(Polymatrix(*self.game.sampled_polymatrix(self.strategies))), None)
        if ne is None:
            raise RlcvError("PNS found no equilibrium of the sampled game (LP tolerance trouble).")
        self.probs = [np.asarray(q, dtype=np.float64) for q in ne.probs]

    def oracle(self, p: int) -> tuple[np.ndarray | None, float]:
        """PG run against σ^{−p}; the best feasible candidate and its value u^p(x, σ^{−p})."""
        from rlcv.games.nash_conv import expected_strategies

        n = self.game.n
        xbar = expected_strategies(self.strategies, self.probs)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed(p))
            policy = _logit_policy(n)
            opt = torch.optim.Adam(policy.parameters(), lr=float(self.config.lr))
            for _ in range(int(self.config.pg_steps)):
                Xr, r = self._reinforce(policy, opt, p, xbar)
            with torch.no_grad():
                mode = policy.mode(torch.zeros(1, 1)).numpy().astype(np.float64)
        self.oracle_calls += 1
        cands, ok = self._feasible_rows(p, np.concatenate([mode, Xr]))
        cands = cands[ok]
        if len(cands) == 0:
            return None, -np.inf
        _, values = self._rewards(p, cands, xbar)
        best = int(np.argmax(values))
        return cands[best], float(values[best])

    def advance(self, iterations: int) -> None:
        """One PSRO iteration per call (the state carries the sets between updates)."""
        g = self.game
        added = False
        gains = []
        current = [g.expected_payoff(p, self.strategies, self.probs) for p in range(g.m)]
        new = []
        for p in range(g.m):
            x, value = self.oracle(p)
            new.append(x)
            gains.append(value - current[p])
        for p, x in enumerate(new):
            if x is not None and not any(np.array_equal(r, x) for r in self.strategies[p]):
                self.strategies[p] = np.vstack([self.strategies[p], x])
                added = True
        self.last_gain = float(max(gains))
        self.converged = not added
        if added:
            self._solve_meta()

    def state_dict(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "oracle_calls": self.oracle_calls,
            "strategies": [s.tolist() for s in self.strategies],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.oracle_calls = int(state["oracle_calls"])
        self.strategies = [np.asarray(s, dtype=np.float64) for s in state["strategies"]]
        if self.game is not None:
            self._solve_meta()
            self._publish()


class PGSelfPlayAgent(_PGAgentBase):
    """``ipg-pg``: independent policy-gradient self-play (module docstring)."""

    algo: ClassVar[str] = "ipg-pg"

    def initialise(self) -> None:
        g = self.game
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed(0))
            self.policies = [_logit_policy(g.n) for _ in range(g.m)]
        self.opts = [torch.optim.Adam(pol.parameters(), lr=float(self.config.lr)) for pol in self.policies]
        self._sample_profile()

    def _sample_profile(self) -> None:
        """σ^p = empirical distribution of ``samples`` repaired draws of player p's policy."""
        g = self.game
        self.strategies, self.probs = [], []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed(g.m))
            for p, pol in enumerate(self.policies):
                with torch.no_grad():
                    X = pol.sample(torch.zeros(1, 1), group_size=int(self.config.samples)).action[0].numpy()
                Xr, ok = self._feasible_rows(p, X)
                if not ok.any():  # keep σ^p a profile of feasible strategies only
                    from rlcv.games.best_response import best_response

                    Xr, ok = best_response(g, p, [np.zeros(g.n)] * g.m).x[None, :], np.ones(1, bool)
                rows, counts = np.unique(Xr[ok], axis=0, return_counts=True)
                self.strategies.append(rows)
                self.probs.append(counts / counts.sum())

    def advance(self, iterations: int) -> None:
        from rlcv.games.nash_conv import expected_strategies

        g = self.game
        xbar = expected_strategies(self.strategies, self.probs)  # every player answers the same profile
        gains = []
        for p in range(g.m):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self._seed(p))
                for _ in range(int(self.config.pg_steps)):
                    _, r = self._reinforce(self.policies[p], self.opts[p], p, xbar)
            self.oracle_calls += 1
            gains.append(float(r.mean()) - g.expected_payoff(p, self.strategies, self.probs))
        self.last_gain = max(gains)
        self.converged = False  # independent PG has no stopping certificate; NashConv grades it
        self._sample_profile()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {f"player{p}": opt for p, opt in enumerate(getattr(self, "opts", []))}

    def state_dict(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "oracle_calls": self.oracle_calls,
            "policies": [pol.state_dict() for pol in self.policies],
            "opts": [opt.state_dict() for opt in self.opts],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.oracle_calls = int(state["oracle_calls"])
        for pol, sd in zip(self.policies, state["policies"], strict=True):
            pol.load_state_dict(sd)
        for opt, sd in zip(self.opts, state["opts"], strict=True):
            opt.load_state_dict(sd)
        self._sample_profile()
        self._publish()
