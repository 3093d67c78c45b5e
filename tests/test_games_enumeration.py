"""Full enumeration + PNS (rlcv.games.enumeration) and its `rlcv bench ipg` method ``enum``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from rlcv.bench.ipg import write_report
from rlcv.errors import RlcvError
from rlcv.games.enumeration import feasible_strategies, solve_enumeration
from rlcv.games.instances import game_from_arrays, generate_knapsack, save_game
from rlcv.games.knapsack import KnapsackGame
from rlcv.games.nash_conv import nash_conv
from rlcv.games.records import solve_instance
from rlcv.games.sgm import solve
from rlcv.games.support_enumeration import pns
from rlcv.games.sweep import result_path


def _game(c: list[list[float]], Q12: list[float], Q21: list[float], A: list[list[float]], b: list[float]):
    m, n = len(c), len(c[0])
    Q = np.zeros((m, m, n, n))
    Q[0, 1] = np.diag(Q12)
    Q[1, 0] = np.diag(Q21)
    return KnapsackGame(
        c=np.array(c, float), Q=Q, A=np.array(A, float)[:, None, :], b=np.array(b, float)[:, None]
    )


def _generated(seed: int, n: int) -> list[KnapsackGame]:
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return [game_from_arrays(generate_knapsack(2, n, ins=ins)) for ins in range(10)]
    finally:
        np.random.set_state(state)


def test_feasible_strategies_lists_every_binary_point_of_the_knapsack():
    # x1 + x2 <= 1 for player 0; player 1 unconstrained (0·x <= 0).
    game = _game([[1, 1], [1, 1]], [0, 0], [0, 0], [[1, 1], [0, 0]], [1, 0])
    assert feasible_strategies(game, 0).tolist() == [[0, 0], [0, 1], [1, 0]]
    assert feasible_strategies(game, 1).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_matching_pennies_gives_its_unique_mixed_equilibrium_like_m_sgm():
    # n = 1: u^1 = x1(2 x2 - 1) (match), u^2 = x2(1 - 2 x1) (mismatch); the unique NE is (1/2, 1/2), payoff 0.
    game = _game([[-1], [1]], [2], [-2], [[0], [0]], [0, 0])
    res, sizes = solve_enumeration(game, time_limit=10)
    assert res.solved and sizes == [2, 2]
    assert np.allclose(res.probs, 0.5, rtol=0, atol=1e-12)
    assert res.payoffs == pytest.approx([0.0, 0.0], abs=1e-12)
    msgm = solve(game, "m-sgm", time_limit=10)
    assert msgm.solved and msgm.payoffs == pytest.approx([0.0, 0.0], abs=1e-12)


def test_enumeration_equilibria_have_zero_nash_conv_and_match_m_sgm_when_unique():
    games = _generated(seed=7, n=4)
    unique = 0
    for ins, game in enumerate(games):
        res, sizes = solve_enumeration(game, time_limit=30)
        assert res.solved, ins
        assert abs(nash_conv(game, res.strategies, res.probs)) <= 1e-9, ins
        for p in range(2):
            assert all(game.feasible(p, x) for x in res.strategies[p])
            assert res.probs[p].sum() == pytest.approx(1.0, abs=1e-12)
        msgm = solve(game, "m-sgm", time_limit=30)
        assert abs(nash_conv(game, msgm.strategies, msgm.probs)) <= 1e-9, ins
        if ins not in (2, 5, 6, 7, 9):  # the ones whose full PNS finishes quickly with one NE
            continue
        X = [feasible_strategies(game, p) for p in range(2)]
        U = game.sampled_payoffs(X)
        assert len(list(pns(U[0], U[1], deadline=time.monotonic() + 30))) == 1, ins
        assert res.payoffs == pytest.approx(msgm.payoffs, rel=1e-9, abs=1e-9), ins
        unique += 1
    assert unique == 5


def test_bad_inputs_are_one_line_errors():
    big = _game([[1] * 17, [1] * 17], [0] * 17, [0] * 17, [[0] * 17, [0] * 17], [0, 0])
    with pytest.raises(RlcvError, match=r"n = 17 > 16: use m-sgm instead"):
        solve_enumeration(big)
    infeasible = _game([[1], [1]], [0], [0], [[1], [0]], [-1, 0])
    with pytest.raises(RlcvError, match=r"player 0 has no feasible strategy"):
        feasible_strategies(infeasible, 0)


def test_time_out_is_unsolved():
    game = _generated(seed=7, n=4)[0]  # the deadline passes before PNS looks at its first support
    res, _ = solve_enumeration(game, time_limit=1e-6)
    assert not res.solved and res.reason == "time limit of 1e-06 s reached" and res.probs == []


def test_bench_record_and_speed_ratio_report(tmp_path: Path):
    state = np.random.get_state()
    np.random.seed(7)
    arrays = [generate_knapsack(2, 4, ins=ins) for ins in range(3)][2]
    np.random.set_state(state)
    inst = tmp_path / "Game_2_4_2.npy"
    save_game(arrays, inst)
    rec = solve_instance(inst, "enum", time_limit=30)
    assert rec["solved"] and rec["nash_conv"] == 0.0 and rec["feasible_sizes"] == [8, 12]
    assert rec["sampled_sizes"] == rec["support_sizes"] == [1, 1]
    # Report: ratios 100, 300 and a time-out (>= 1000) → median 300 exact.
    out = tmp_path / "out"
    for ins, (e, q, ok) in enumerate([(1.0, 0.01, True), (3.0, 0.01, True), (10.0, 0.01, False)]):
        for method, sec, solved in (("enum", e, ok), ("m-sgm", q, True)):
            path = result_path(out, "knapsack", method, 2, 4, ins)
            path.parent.mkdir(parents=True, exist_ok=True)
            rec_i = {**rec, "method": method, "seconds": sec, "cpu_seconds": sec, "solved": solved}
            path.write_text(json.dumps(rec_i))
    report = write_report([("knapsack", 2, 4)], ["m-sgm", "enum"], tmp_path, out, 300.0, 3)
    ratio = report["speed_ratio"]["2x4"]
    assert ratio["median"] == pytest.approx(300.0) and not ratio["median_is_lower_bound"]
    assert "median ratio 300× over 3 instances (2 enum solved)" in (out / "ipg.md").read_text()
