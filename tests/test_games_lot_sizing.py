"""rlcv.games lot-sizing: the DP best response against brute force, and m-SGM against the paper's runs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy.optimize import minimize

import rlcv.envs  # noqa: F401  (registers the rlcv/ envs)
from rlcv.errors import RlcvError
from rlcv.games.best_response import best_response
from rlcv.games.instances import game_bytes, generate_knapsack, load_game, lot_sizing_instances, save_game
from rlcv.games.lot_sizing import LotSizingGame
from rlcv.games.nash_conv import nash_conv
from rlcv.games.sgm import solve

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "ipg" / "lot_sizing"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the paper's instances (../shared/ipg) are absent")


def _game(T: int = 3) -> LotSizingGame:
    """Two players, T periods, random costs; layout y | x | q | h (n = 4T + 1)."""
    rng = np.random.default_rng(0)
    n, m = 4 * T + 1, 2
    y, x, q, h = (np.arange(T), np.arange(T, 2 * T), np.arange(2 * T, 3 * T), np.arange(3 * T, 4 * T + 1))
    c = np.zeros((m, n))
    Q = np.zeros((m, m, n, n))
    A, b = [], []
    beta = rng.integers(1, 3, T).astype(float)
    for p in range(m):
        c[p, y] = -rng.integers(5, 20, T)
        c[p, x] = -rng.integers(5, 10, T)
        c[p, q] = rng.integers(20, 30, T)
        c[p, h[1:]] = -rng.integers(0, 3, T)
        Q[p, p][q, q] = 2 * beta
        Q[p, 1 - p][q, q] = -beta
        rows = []
        for t in range(T):  # h_t + x_t − q_t − h_{t+1} = 0, as two inequalities
            r = np.zeros(n)
            r[[h[t], x[t], q[t], h[t + 1]]] = [1, 1, -1, -1]
            rows += [r, -r]
        for t in range(T):
            r = np.zeros(n)
            r[[y[t], x[t]]] = [-1000, 1]
            rows.append(r)
        for u in (h[0], h[T]):
            r = np.zeros(n)
            r[u] = 1
            rows.append(r)
        A.append(np.array(rows))
        b.append(np.zeros(len(rows)))
    return LotSizingGame(c=c, Q=Q, A=np.array(A), b=np.array(b), T=T)


def _brute_force(game: LotSizingGame, p: int, others: list[np.ndarray]) -> float:
    """max over all setup patterns y of the concave QP in (x, q, h), by SLSQP."""
    T, n = game.T, game.n
    best = 0.0
    for pattern in itertools.product((0.0, 1.0), repeat=T):

        def neg(z: np.ndarray, y=pattern) -> float:
            return -game.payoff(p, [np.concatenate([y, z]) if k == p else others[k] for k in range(2)])

        cons = {"type": "ineq", "fun": lambda z, y=pattern: game.b[p] - game.A[p] @ np.concatenate([y, z])}
        res = minimize(
            neg,
            np.zeros(n - T),
            bounds=[(0, None)] * (n - T),
            constraints=[cons],
            method="SLSQP",
            options={"ftol": 1e-12, "maxiter": 500},
        )
        if res.success and np.all(game.A[p] @ np.concatenate([pattern, res.x]) <= game.b[p] + 1e-6):
            best = max(best, -res.fun)
    return best


def test_dp_best_response_matches_brute_force() -> None:
    game = _game(T=3)
    rng = np.random.default_rng(1)
    for _ in range(3):
        others = [rng.random(game.n) * 5, rng.random(game.n) * 5]
        for p in range(2):
            x, value = game.best_response_dp(p, others)
            assert game.feasible(p, x)
            assert value == pytest.approx(game.payoff(p, [x if k == p else others[k] for k in range(2)]))
            assert value == pytest.approx(_brute_force(game, p, others), abs=1e-5)


def test_m_sgm_on_a_tiny_lot_sizing_game() -> None:
    game = _game(T=3)
    res = solve(game, "m-sgm", time_limit=30)
    assert res.solved and all(game.feasible(p, x) for p in range(2) for x in res.strategies[p])
    assert nash_conv(game, res.strategies, res.probs) <= 2e-6


@needs_data
def test_papers_pure_equilibria_iterations_and_payoffs() -> None:
    for T, ins in [(10, 0), (10, 7), (20, 3)]:
        text = (DATA / f"Game_2_{T}_{ins}.txt").read_text().split("m-SGM results \n", 1)[1]
        game = load_game(DATA / f"Game_2_{T}_{ins}.npy")
        res = solve(game, "m-sgm", time_limit=30)
        assert res.solved and res.pure
        assert res.iterations == int(re.search(r"numb_iter=(\d+)", text).group(1))
        profits = [float(v) for v in re.search(r"Profits=\[(.*)\]", text).group(1).split(",")]
        assert res.payoffs == pytest.approx(profits, rel=1e-5)
        assert nash_conv(game, res.strategies, res.probs) <= 2e-6


@needs_data
def test_generator_reproduces_the_papers_first_instance_bit_for_bit() -> None:
    """The paper code's seed 6 gives its T = 10 instance 0; the other shared files were drawn elsewhere."""
    arrays = lot_sizing_instances(10)[0]
    assert game_bytes(arrays) == (DATA / "Game_2_10_0.npy").read_bytes()


def test_generated_long_horizon_game_has_a_pure_equilibrium(tmp_path: Path) -> None:
    """T = 30 (beyond the shared files): the generated file loads, m-SGM ends in a pure NE, NashConv 0."""
    save_game(lot_sizing_instances(30, numb_ins=2)[1], tmp_path / "g.npy")
    game = load_game(tmp_path / "g.npy")
    assert isinstance(game, LotSizingGame) and game.T == 30
    res = solve(game, "m-sgm", time_limit=60)
    assert res.solved and res.pure
    assert nash_conv(game, res.strategies, res.probs) <= 2e-6 * max(1.0, max(res.payoffs))


def test_lot_sizing_env_reward_regret_and_infeasible_quantities(tmp_path: Path) -> None:
    env = gym.make("rlcv/LotSizingGame-v0", T=6, ins=1, exact_info=True)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    u = env.unwrapped
    br = best_response(u.game, 0, u.xbar).x
    T = 6
    action = np.concatenate([br[:T], br[2 * T : 3 * T] * u.slope / u.market]).astype(np.float32)
    _, reward, done, _, info = env.step(action)
    assert done and info["feasible"] and info["regret"] == pytest.approx(0.0, abs=1e-6)
    late = np.concatenate([np.zeros(T), np.full(T, 0.5)]).astype(np.float32)  # no setup: nothing can be made
    _, reward, _, _, info = env.step(late)
    assert reward == 0.0 and not info["feasible"] and info["regret"] > 0
    penal = gym.make("rlcv/LotSizingGame-v0", T=6, infeasible="penalty", penalty=-7.0)
    penal.reset(seed=0)
    assert penal.step(late)[1] == -7.0
    np.random.seed(0)
    save_game(generate_knapsack(2, 5, ins=1), tmp_path / "k.npy")
    with pytest.raises(RlcvError, match="needs a lot-sizing one"):
        gym.make("rlcv/LotSizingGame-v0", instance=str(tmp_path / "k.npy"))
