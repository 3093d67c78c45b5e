r"""One player's view of a lot-sizing integer programming game: ``rlcv/LotSizingGame-v0``.

The lot-sizing counterpart of ``rlcv/KnapsackGame-v0`` (:mod:`rlcv.envs.knapsack_game`): the agent is
player ``player`` of a :class:`rlcv.games.LotSizingGame` (``instance``: a ``.npy`` file in the paper's
layout; otherwise drawn by the paper's generator, :func:`rlcv.games.instances.lot_sizing_instances`, with
``T, ins, seed`` — the defaults give the paper's T = 10 instance 0 bit for bit). The opponents follow a
fixed mixed profile σ_{−p} (``profile``: a result JSON of ``rlcv bench ipg --json``; default: each plays
its best response to everybody producing nothing), and each episode draws their pure plans from it.

Episode: one step. Observation: the opponents' expected market quantities q̄^k (T each, k ≠ p), float32.
Action: Box(0, 1, (2T,)): entry t > 0.5 opens a setup in period t (y_t = 1); entry T + t sets the
quantity put on market t, q_t = action · a_t / β_t (a_t / β_t: the quantity at which the price is 0
with no competitor, so larger ones never pay). The plan is completed the cheapest way that needs no
choice: period t is produced at the last setup s ≤ t (x_s = Σ q_t over its periods, stock h in
between) — with the paper's zero holding costs this is an optimal plan for the chosen (y, q). A quantity
before the first setup cannot be produced: ``infeasible="repair"`` (default) sets it to 0;
``"penalty"`` pays ``penalty`` instead. Reward = u^p(plan, x^{−p}); ``exact_info=True`` adds the exact
regret against σ_{−p} (the dynamic-programming best response) in ``info``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from rlcv.envs.knapsack_game import KnapsackGameEnv
from rlcv.errors import RlcvError
from rlcv.games.instances import LOT_SIZING_SEED, load_game, lot_sizing_instances
from rlcv.games.lot_sizing import LotSizingGame


class LotSizingGameEnv(KnapsackGameEnv):
    """See the module docstring."""

    def __init__(  # noqa: PLR0913 - the env's keyword arguments are its configuration
        self,
        instance: str | None = None,
        T: int = 10,
        ins: int = 0,
        seed: int = LOT_SIZING_SEED,
        player: int = 0,
        profile: str | None = None,
        infeasible: str = "repair",
        penalty: float = -1000.0,
        exact_info: bool = False,
    ) -> None:
        if instance is not None:
            game = load_game(instance)
            if not isinstance(game, LotSizingGame):
                raise RlcvError(
                    f"instance '{instance}' is a knapsack game; rlcv/LotSizingGame-v0 needs a lot-sizing one."
                )
        else:
            if T < 1 or not 0 <= ins:
                raise RlcvError(f"T = {T}, ins = {ins}: need T ≥ 1 periods and an instance number ins ≥ 0.")
            arrays = lot_sizing_instances(T, seed=seed, numb_ins=max(10, ins + 1))[ins]
            f = np.float64
            game = LotSizingGame(
                c=arrays["c"].astype(f),
                Q=arrays["Q"].astype(f),
                A=arrays["A"].astype(f),
                b=arrays["b"][..., 0].astype(f),
                ins=ins,
                numb_ins=int(arrays["numb_ins"]),
                T=T,
            )
        self.game: LotSizingGame = game
        self._configure_play(player, profile, infeasible, penalty, exact_info)
        T = game.T
        q = game.q_index
        others = [k for k in range(game.m) if k != player]
        self.market = game.c[player][q]  # a_t
        self.slope = 0.5 * np.diag(game.Q[player, player])[q]  # β_t
        self._obs = np.concatenate([self.xbar[k][q] for k in others]).astype(np.float32)
        # a_t / β_t: no sensible plan sells more (the price would be negative even alone)
        high = max(float(np.max(self.market / self.slope)), float(np.max(self._obs, initial=0.0)))
        self.observation_space = spaces.Box(0.0, high, shape=(len(others) * T,), dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, shape=(2 * T,), dtype=np.float32)

    def action_of(self, x: np.ndarray) -> np.ndarray:
        """The action (2T,) whose plan is strategy x (setups, and quantities as fractions of a_t / β_t):
        how the exact-oracle agents play a strategy of the game on this env."""
        g = self.game
        return np.concatenate([x[g.y_index], x[g.q_index] * self.slope / self.market]).astype(np.float32)

    def plan(self, action: np.ndarray) -> tuple[np.ndarray, bool]:
        """(x (4T + 1,), whether every chosen quantity could be produced) for an action (module
        docstring); unproducible quantities are left out of x."""
        g, T = self.game, self.game.T
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(2 * T), 0.0, 1.0)
        setups = a[:T] > 0.5
        qty = a[T:] * self.market / self.slope
        x = np.zeros(g.n)
        ok = True
        last = -1
        for t in range(T):
            if setups[t]:
                last = t
                x[g.y_index[t]] = 1.0
            if qty[t] <= 0:
                continue
            if last < 0:
                ok = False
                continue
            x[g.x_index[last]] += qty[t]
            x[g.q_index[t]] = qty[t]
        stock = 0.0
        for t in range(T):
            x[g.h_index[t]] = stock
            stock += x[g.x_index[t]] - x[g.q_index[t]]
        return x, ok

    def step(self, action: np.ndarray):
        p, g = self.player, self.game
        x, ok = self.plan(action)
        info: dict[str, Any] = {"x": x, "feasible": ok and g.feasible(p, x)}
        if not ok and self.infeasible == "penalty":
            return self._obs.copy(), self.penalty, True, False, info
        return self._play(x, info)
