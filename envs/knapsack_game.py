r"""One player's view of a knapsack integer programming game: ``rlcv/KnapsackGame-v0``.

The agent is player ``player`` of a :class:`rlcv.games.KnapsackGame` (loaded from ``instance``, a
``.npy`` file in the paper's layout, or drawn by the paper's generator from ``m, n, ins, seed``). The
other players follow a fixed mixed profile σ_{−p}: ``profile`` is a result JSON of
``rlcv bench ipg --json`` (its players' strategies and probabilities), or, by default, each opponent
plays its best response to everybody playing 0 (the first strategy of SGM).

Episode: one step. Observation: the opponents' expected strategies x̄^k (k ≠ p) concatenated,
float32 of shape [(m − 1)·n] (constant: the game is a one-shot bandit against σ_{−p}). Action:
MultiBinary(n), the items x^p. The opponents' pure strategies x^k ~ σ^k are drawn from the env's
``np_random``; reward = u^p(x^p, x^{−p}) = c^p·x^p + Σ_{k≠p} (x^k)ᵀ Q^p_k x^p.

Infeasible selections (A^p x > b^p): ``infeasible="repair"`` (default) first drops chosen items of
positive weight, heaviest first, then adds unchosen items of negative weight, lightest first, until
A^p x ≤ b^p (one constraint row; the repaired x is in ``info["x"]``); ``"penalty"`` keeps x out of the
game and pays ``penalty`` instead. ``exact_info=True`` adds ``info["regret"]`` = max_x u^p(x, σ_{−p})
− u^p(x^p, σ_{−p}) (exact, HiGHS) and ``info["best_value"]``; :meth:`KnapsackGameEnv.nash_conv` gives
the exact NashConv of any full profile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rlcv.errors import RlcvError
from rlcv.games.best_response import best_response
from rlcv.games.instances import game_from_arrays, generate_knapsack, load_game
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.lot_sizing import LotSizingGame
from rlcv.games.nash_conv import expected_strategies, nash_conv


class KnapsackGameEnv(gym.Env):
    """See the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        instance: str | None = None,
        m: int = 2,
        n: int = 20,
        ins: int = 0,
        seed: int = 1,
        player: int = 0,
        profile: str | None = None,
        infeasible: str = "repair",
        penalty: float = -1000.0,
        exact_info: bool = False,
    ) -> None:
        if instance is not None:
            self.game: KnapsackGame = load_game(instance)
            if isinstance(self.game, LotSizingGame):
                raise RlcvError(
                    f"instance '{instance}' is a lot-sizing game; rlcv/KnapsackGame-v0 needs a knapsack one."
                )
        else:
            state = np.random.get_state()
            np.random.seed(seed)
            try:
                self.game = game_from_arrays(generate_knapsack(m, n, ins))
            finally:
                np.random.set_state(state)
        self._configure_play(player, profile, infeasible, penalty, exact_info)
        n_items, others = self.game.n, [k for k in range(self.game.m) if k != player]
        self.observation_space = spaces.Box(0.0, 1.0, shape=(len(others) * n_items,), dtype=np.float32)
        self.action_space = spaces.MultiBinary(n_items)
        self._obs = np.concatenate([self.xbar[k] for k in others]).astype(np.float32)

    def _configure_play(
        self, player: int, profile: str | None, infeasible: str, penalty: float, exact_info: bool
    ) -> None:
        """Checks and stores how this player plays ``self.game``, and draws the opponents' profile
        (shared with the lot-sizing env)."""
        if not 0 <= player < self.game.m:
            raise RlcvError(f"player {player} does not exist; this game has players 0..{self.game.m - 1}.")
        if infeasible not in ("repair", "penalty"):
            raise RlcvError(f"infeasible='{infeasible}' is unknown; choose 'repair' or 'penalty'.")
        self.player = player
        self.infeasible = infeasible
        self.penalty = float(penalty)
        self.exact_info = exact_info
        self.strategies, self.probs = self._profile(profile)
        self.xbar = expected_strategies(self.strategies, self.probs)

    def _profile(self, profile: str | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        g = self.game
        if profile is None:
            zeros = [np.zeros(g.n) for _ in range(g.m)]
            strategies = [best_response(g, k, zeros).x[None, :] for k in range(g.m)]
            return strategies, [np.ones(1) for _ in range(g.m)]
        try:
            players = json.loads(Path(profile).read_text())["players"]
            strategies = [np.asarray(pl["strategies"], dtype=np.float64).reshape(-1, g.n) for pl in players]
            probs = [np.asarray(pl["probabilities"], dtype=np.float64) for pl in players]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RlcvError(
                f"profile '{profile}' is not a result JSON of `rlcv bench ipg --json` ({exc})."
            ) from None
        if len(players) != g.m or any(len(s) != len(q) for s, q in zip(strategies, probs, strict=True)):
            raise RlcvError(f"profile '{profile}' does not fit this {g.m}-player game.")
        return strategies, probs

    def repair(self, x: np.ndarray) -> np.ndarray:
        """A feasible x close to the selection (module docstring); may stay infeasible for odd rows."""
        p, x = self.player, np.asarray(x, dtype=np.float64).copy()
        a, b = self.game.A[p][0], self.game.b[p][0]
        for i in np.argsort(-a):  # heaviest positive weights first
            if a @ x <= b:
                return x
            if x[i] == 1 and a[i] > 0:
                x[i] = 0
        for i in np.argsort(a):  # most negative weights first
            if a @ x <= b:
                return x
            if x[i] == 0 and a[i] < 0:
                x[i] = 1
        return x

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        return self._obs.copy(), {}

    def step(self, action: np.ndarray):
        p, g = self.player, self.game
        x = (np.asarray(action).reshape(g.n) > 0.5).astype(np.float64)
        if not g.feasible(p, x) and self.infeasible == "repair":
            x = self.repair(x)
        info: dict[str, Any] = {"x": x, "feasible": g.feasible(p, x)}
        if not info["feasible"]:
            return self._obs.copy(), self.penalty, True, False, info
        return self._play(x, info)

    def _play(self, x: np.ndarray, info: dict[str, Any]):
        """Plays strategy x against pure strategies drawn from σ_{−p}: the step's result (shared
        with the lot-sizing env)."""
        p, g = self.player, self.game
        profile = [
            x if k == p else self.strategies[k][self.np_random.choice(len(self.probs[k]), p=self.probs[k])]
            for k in range(g.m)
        ]
        reward = g.payoff(p, profile)
        if self.exact_info:
            best = best_response(g, p, self.xbar).value
            mixed = [x if k == p else self.xbar[k] for k in range(g.m)]
            info["best_value"] = best
            info["regret"] = best - g.payoff(p, mixed)
        return self._obs.copy(), float(reward), True, False, info

    def nash_conv(self, strategies: list[np.ndarray], probs: list[np.ndarray]) -> float:
        """Exact NashConv of a full profile (every player's strategies (s_k, n) and probabilities)."""
        return nash_conv(self.game, strategies, probs)
