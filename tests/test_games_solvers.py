"""rlcv.games: exact best responses, PNS, SGM / m-SGM and NashConv on tiny games and the paper's n = 20."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from rlcv.errors import RlcvError
from rlcv.games.best_response import best_response
from rlcv.games.instances import game_from_arrays, generate_knapsack, load_game
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.nash_conv import nash_conv, regrets
from rlcv.games.sgm import solve
from rlcv.games.support_enumeration import pns, size_profiles
from rlcv.games.support_enumeration_nplayer import pns_n

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "ipg" / "knapsack"


def _pennies() -> KnapsackGame:
    """Matching pennies with binary strategies: u1 = −2x1 + 4x1x2, u2 = 2x2 − 4x1x2; unique NE (½, ½)."""
    return KnapsackGame(
        c=np.array([[-2.0], [2.0]]),
        Q=np.array([[[[0.0]], [[4.0]]], [[[-4.0]], [[0.0]]]]),
        A=np.ones((2, 1, 1)),
        b=np.ones((2, 1)),
    )


def test_best_response_is_optimal_against_brute_force() -> None:
    np.random.seed(5)
    for ins in range(1, 6):
        game = game_from_arrays(generate_knapsack(2, 8, ins=ins))
        rng = np.random.default_rng(ins)
        others = [rng.random(8), rng.random(8)]  # expected strategies of a mixed opponent
        for p in range(2):
            g = game.linear_objective(p, others)
            best = max(
                g @ np.array(x)
                for x in itertools.product((0.0, 1.0), repeat=8)
                if game.feasible(p, np.array(x))
            )
            br = best_response(game, p, others)
            assert game.feasible(p, br.x) and br.value == pytest.approx(best, abs=1e-9)


def test_infeasible_player_is_a_one_line_error() -> None:
    game = KnapsackGame(c=np.ones((2, 2)), Q=np.zeros((2, 2, 2, 2)), A=np.ones((2, 1, 2)), b=-np.ones((2, 1)))
    with pytest.raises(RlcvError, match="player 0 has no feasible strategy"):
        best_response(game, 0, [None, np.zeros(2)])
    with pytest.raises(RlcvError, match="no feasible strategy"):
        solve(game)


def test_pns_finds_the_mixed_equilibrium_of_matching_pennies() -> None:
    U1 = np.array([[1.0, -1.0], [-1.0, 1.0]])
    ne = next(pns(U1, -U1))
    assert ne.supports == ((0, 1), (0, 1))
    assert np.allclose(ne.probs[0], 0.5) and np.allclose(ne.probs[1], 0.5)
    game = _pennies()
    S = [np.array([[0.0], [1.0]])] * 2
    assert nash_conv(game, S, [np.array([0.5, 0.5])] * 2) == 0.0
    assert regrets(game, S, [np.array([1.0, 0.0]), np.array([0.0, 1.0])]) == [2.0, 0.0]


def test_pns_lists_pure_equilibria_first_and_all_of_them() -> None:
    # Battle of the sexes: two pure NE, then the mixed one (2/3, 1/3) / (1/3, 2/3).
    U1 = np.array([[2.0, 0.0], [0.0, 1.0]])
    U2 = np.array([[1.0, 0.0], [0.0, 2.0]])
    found = list(pns(U1, U2))
    assert [ne.supports for ne in found] == [((0,), (0,)), ((1,), (1,)), ((0, 1), (0, 1))]
    assert np.allclose(found[2].probs[0], [2 / 3, 1 / 3]) and np.allclose(found[2].probs[1], [1 / 3, 2 / 3])
    assert [ne.supports for ne in pns(U1, U2, forced=(0, 1))] == [((1,), (1,)), ((0, 1), (0, 1))]
    assert size_profiles(2, 3)[:3] == [(1, 1), (2, 2), (1, 2)]


@pytest.mark.parametrize("method", ["sgm", "m-sgm"])
def test_sgm_solves_tiny_games_exactly(method: str) -> None:
    res = solve(_pennies(), method=method)
    assert res.solved and res.support_sizes == [2, 2]
    assert nash_conv(_pennies(), res.strategies, res.probs) <= 1e-9
    np.random.seed(11)
    for ins in range(1, 5):
        game = game_from_arrays(generate_knapsack(2, 6, ins=ins))
        res = solve(game, method=method)
        assert res.solved
        assert all(game.feasible(p, x) for p in range(2) for x in res.strategies[p])
        assert nash_conv(game, res.strategies, res.probs) <= 1e-6


def test_time_out_returns_unsolved() -> None:
    res = solve(_pennies(), time_limit=1e-9)
    assert not res.solved and "time limit" in res.reason and res.probs == []


@pytest.mark.parametrize("method", ["sgm", "m-sgm"])
def test_sgm_solves_tiny_three_player_games(method: str) -> None:
    np.random.seed(2)
    for ins in range(1, 4):
        game = game_from_arrays(generate_knapsack(3, 5, ins=ins))
        res = solve(game, method=method, time_limit=30)
        assert res.solved
        assert all(game.feasible(p, x) for p in range(3) for x in res.strategies[p])
        assert nash_conv(game, res.strategies, res.probs) <= 1e-6


def test_three_player_pns_finds_a_mixed_equilibrium() -> None:
    # Player 0 vs 1 play matching pennies; player 2 copies nobody and is indifferent: supports (2, 2, 1).
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    U = [np.repeat(t[:, :, None], 1, axis=2) for t in (pennies, -pennies, np.zeros((2, 2)))]
    ne = next(pns_n(U))
    assert ne.supports == ((0, 1), (0, 1), (0,))
    assert np.allclose(ne.probs[0], 0.5) and np.allclose(ne.probs[1], 0.5)


@pytest.mark.skipif(not DATA.is_dir(), reason="the paper's instances (../shared/ipg) are absent")
@pytest.mark.parametrize("method", ["m-sgm", "sgm"])
def test_papers_iterations_sizes_and_payoffs_on_two_players_twenty_items(method: str) -> None:
    header = {"m-sgm": "m-SGM results", "sgm": "SGM results"}[method]
    for ins in range(10):
        text = (DATA / f"Game_2_20_{ins}.txt").read_text().split(header + " \n", 1)[1]
        iters = int(re.search(r"numb_iter=(\d+)", text).group(1))
        profits = eval(re.search(r"Profits=(.*)", text).group(1))
        sizes = [len(s) for s in eval(re.search(r"S=(.*)", text).group(1))]
        game = load_game(DATA / f"Game_2_20_{ins}.npy")
        res = solve(game, method=method, time_limit=60)
        assert res.solved and res.iterations == iters and [len(s) for s in res.strategies] == sizes, ins
        assert res.payoffs == pytest.approx(profits, rel=1e-9), ins
        assert nash_conv(game, res.strategies, res.probs) <= 1e-6


@pytest.mark.skipif(not DATA.is_dir(), reason="the paper's instances (../shared/ipg) are absent")
def test_papers_pure_equilibrium_on_three_players_twenty_items() -> None:
    game = load_game(DATA / "Game_3_20_2.npy")
    res = solve(game, method="m-sgm", time_limit=60)
    assert res.solved and res.pure and res.iterations == 4
    assert res.payoffs == [652.0, 450.0, 596.0]


@pytest.mark.parametrize("method", ["sgm", "m-sgm"])
def test_stopping_mid_run_returns_a_consistent_profile(method: str) -> None:
    np.random.seed(11)
    game = game_from_arrays(generate_knapsack(2, 12, ins=2))
    full = solve(game, method=method)
    assert full.iterations > 2
    res = solve(game, method=method, max_iter=2)
    assert not res.solved and "within 2 iterations" in res.reason
    assert [len(q) for q in res.probs] == [len(s) for s in res.strategies]
    assert res.probs[0][-1] == 0.0 or res.probs[1][-1] == 0.0  # the strategy added last is not played yet
    assert nash_conv(game, res.strategies, res.probs) > 1e-6


@pytest.mark.expensive
def test_issue_28_heavy_tail_game_is_solved_exactly() -> None:
    """The fresh m = 3, n = 20 game that took 321 s of CPU (one sampled game: 139,683 support LPs)."""
    np.random.seed(7774)
    game = game_from_arrays(generate_knapsack(3, 20, 5))
    res = solve(game, method="m-sgm", time_limit=120, clock="cpu")
    assert res.solved and res.milp_solves >= 1
    assert nash_conv(game, res.strategies, res.probs) <= 1e-6
