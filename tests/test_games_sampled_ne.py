"""rlcv.games.sampled_ne: the paper's search orders, RS pruning, the polymatrix LP, and the LP backends."""

from __future__ import annotations

import numpy as np
import pytest

from rlcv.games import lp
from rlcv.games import support_enumeration as se
from rlcv.games.instances import game_from_arrays, generate_knapsack
from rlcv.games.nash_conv import nash_conv
from rlcv.games.sampled_ne import Polymatrix, first_equilibrium, ordered_pns, size_order
from rlcv.games.sgm import solve


def _bimatrix_poly(U1: np.ndarray, U2: np.ndarray) -> Polymatrix:
    """A bimatrix game as a polymatrix one (own terms 0)."""
    return Polymatrix(
        [np.zeros(len(U1)), np.zeros(U1.shape[1])], [[np.zeros((0, 0)), U1], [U2.T, np.zeros((0, 0))]]
    )


def test_size_order_starts_at_the_previous_support_sizes() -> None:
    order = size_order([4, 4], prev=[2, 2])
    assert order[0] == (2, 2) and order[1] == (3, 3)  # balanced first, nearest the previous sizes
    assert all(abs(a - b) == 0 for a, b in order[:4]) and abs(order[4][0] - order[4][1]) == 1
    assert size_order([3, 5], prev=[0, 0], cap=[2, 2]) == [(1, 1), (2, 2), (1, 2), (2, 1)]
    three = size_order([2, 2, 2], prev=[1, 1, 1])
    assert three[0] == (1, 1, 1) and three[1] == (2, 2, 2)  # sizes previous + 1 come next


def test_matching_pennies_mixed_equilibrium_and_forced_support() -> None:
    U1 = np.array([[1.0, -1.0], [-1.0, 1.0]])
    ne = next(ordered_pns(_bimatrix_poly(U1, -U1)))
    assert ne.probs[0] == pytest.approx([0.5, 0.5]) and ne.probs[1] == pytest.approx([0.5, 0.5])
    # A coordination game: pure NE (0,0) and (1,1). Without a previous NE the paper's lists are tried
    # from their last candidate: (1,1) first; forcing player 1's action 0 gives (0,0).
    C = np.eye(2)
    first = next(ordered_pns(_bimatrix_poly(C, C)))
    forced = next(ordered_pns(_bimatrix_poly(C, C), forced=(1, 0)))
    assert first.supports == ((1,), (1,)) and forced.supports == ((0,), (0,))


def test_previous_probabilities_order_the_strategies() -> None:
    """With two pure equilibria, the one on the strategies the previous NE played is found first."""
    C = np.eye(2)
    ne = next(ordered_pns(_bimatrix_poly(C, C), previous=[np.array([0.0, 1.0]), np.array([0.0, 1.0])]))
    assert ne.supports == ((1,), (1,))
    ne = next(ordered_pns(_bimatrix_poly(C, C), previous=[np.array([1.0, 0.0]), np.array([1.0, 0.0])]))
    assert ne.supports == ((0,), (0,))


def test_dominance_is_the_product_test() -> None:
    """Separable dominance (min over each opponent's set) equals the check over the product of sets."""
    rng = np.random.default_rng(0)
    sizes = [4, 3, 3]
    own = [rng.integers(-5, 5, s).astype(float) for s in sizes]
    pair = [[rng.integers(-5, 5, (sizes[p], sizes[k])).astype(float) for k in range(3)] for p in range(3)]
    poly = Polymatrix(own, pair)
    sets = [np.array([0, 1]), np.array([0, 2]), np.array([1, 2])]
    got = poly.dominated(0, sets)
    for a in range(4):
        want = any(
            all(
                own[0][b] + pair[0][1][b, j] + pair[0][2][b, k]
                > own[0][a] + pair[0][1][a, j] + pair[0][2][a, k]
                for j in sets[1]
                for k in sets[2]
            )
            for b in range(4)
        )
        assert got[a] == want


def test_three_player_m_sgm_returns_an_exact_equilibrium() -> None:
    np.random.seed(3)
    game = game_from_arrays(generate_knapsack(3, 8, ins=4))
    res = solve(game, "m-sgm", time_limit=60)
    assert res.solved
    assert nash_conv(game, res.strategies, res.probs) <= 1e-6 * max(1.0, max(abs(v) for v in res.payoffs))


def test_lp_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """highspy (when installed) and scipy's linprog give the same optimum and the same infeasibility."""
    cost = np.array([-1.0, -1.0])
    a_ub = np.array([[1.0, 2.0], [3.0, 1.0]])
    b_ub = np.array([4.0, 6.0])
    a_eq = np.zeros((0, 2))
    lo, hi = np.zeros(2), np.full(2, np.inf)
    fast = lp.solve_lp(cost, a_ub, b_ub, a_eq, np.zeros(0), lo, hi)
    infeasible = lp.solve_lp(cost, a_ub, b_ub, np.array([[1.0, 1.0]]), np.array([10.0]), lo, hi)
    monkeypatch.setattr(lp, "highspy", None)
    slow = lp.solve_lp(cost, a_ub, b_ub, a_eq, np.zeros(0), lo, hi)
    assert fast is not None and slow is not None
    assert fast == pytest.approx([1.6, 1.2]) and slow == pytest.approx([1.6, 1.2])
    assert infeasible is None
    assert lp.solve_lp(cost, a_ub, b_ub, np.array([[1.0, 1.0]]), np.array([10.0]), lo, hi) is None


def test_square_and_line_fast_paths_agree_with_the_lp() -> None:
    """The exact no-LP paths (unique solution, one-dimensional solution line) decide like the LP, one
    support at a time and stacked, on small-integer games full of ties (singular systems)."""
    rng = np.random.default_rng(0)
    decided = 0
    for trial in range(400):
        s1, s2 = rng.integers(2, 6, 2)
        U = rng.integers(-3, 4, (s1, s2)).astype(float) * (1 if trial % 2 else 37)
        k2 = int(rng.integers(1, s2 + 1))
        k1 = int(max(1, min(s1, k2 + rng.integers(-1, 2))))
        own = tuple(sorted(int(a) for a in rng.choice(s1, k1, replace=False)))
        other = tuple(sorted(int(a) for a in rng.choice(s2, k2, replace=False)))
        for floor in (1e-9, -1e-9):
            fast = se._unique_mix(U, own, other, floor)
            stacked = se.unique_mix_batch(U, np.array([own]), np.array([other]), floor)[0]
            assert (fast is False) == (stacked is False) and (fast is None) == (stacked is None)
            if fast is False:
                continue
            decided += 1
            lp_mix = se._lp_mix(U, own, other, floor)
            assert (fast is None) == (lp_mix is None)
            if fast is not None:
                values = U[:, list(other)] @ fast
                assert np.ptp(values[list(own)]) < 1e-7 and np.max(values) <= np.max(values[list(own)]) + 1e-7
                assert stacked == pytest.approx(fast)
    assert decided > 300


def _regrets(poly: Polymatrix, probs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Each player's regret of every sampled strategy against the others' mixes (exact arithmetic)."""
    out = []
    for p in range(poly.m):
        u = poly.own[p] + sum(poly.pair[p][k] @ probs[k] for k in range(poly.m) if k != p)
        out.append(u.max() - u)
    return out


def test_unplayable_strategies_stay_as_constraints() -> None:
    """Player 0's strategy 1 may not be played (playable [1, 1]) but pays 2 > 1 against (0, 0): no
    equilibrium — by enumeration and by the MILP alike; once playable, (1, 0) is the equilibrium."""
    poly = _bimatrix_poly(np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]]))
    for budget in (None, 0):
        assert first_equilibrium(poly, playable=[1, 1], budget=budget) is None
        found = first_equilibrium(poly, playable=[2, 1], budget=budget)
        assert found is not None and found.ne.supports == ((1,), (0,))
    assert next(ordered_pns(poly, playable=[1, 1]), None) is None


def test_milp_and_enumeration_agree_on_whether_a_forced_equilibrium_exists() -> None:
    """On random polymatrix games with a forced strategy and unplayable ones, the MILP (budget 0)
    finds an equilibrium exactly when the full enumeration does, and its answer is exact: no regret
    above 1e-9, the forced strategy a best response, nothing unplayable played."""
    rng = np.random.default_rng(1)
    agree = found_some = 0
    for trial in range(12):
        m = 2 + trial % 2
        sizes = [int(s) for s in rng.integers(2, 5, m)]
        own = [rng.integers(-5, 6, s).astype(float) for s in sizes]
        pair = [[rng.integers(-5, 6, (sizes[p], sizes[k])).astype(float) for k in range(m)] for p in range(m)]
        poly = Polymatrix(own, pair)
        playable = [max(1, s - int(rng.integers(0, 2))) for s in sizes]
        q = int(rng.integers(0, m))
        forced = (q, int(rng.integers(0, playable[q])))
        full = first_equilibrium(poly, forced=forced, playable=playable, budget=None)
        milp = first_equilibrium(poly, forced=forced, playable=playable, budget=0)
        agree += (full is None) == (milp is None)
        if milp is None:
            continue
        found_some += 1
        regret = _regrets(poly, milp.ne.probs)
        for reg, pr in zip(regret, milp.ne.probs, strict=True):
            assert np.all(reg[pr > 0] <= 1e-9)  # every played strategy a best response
        assert regret[q][forced[1]] <= 1e-9
        assert all(np.all(pr[playable[p] :] == 0) for p, pr in enumerate(milp.ne.probs))
    assert agree == 12 and 0 < found_some < 12  # both answers occur


def test_m_sgm_keeps_the_dropped_strategy_as_a_constraint(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a game that backtracks, the sampled game solved after a failed one still holds the failed
    game's forced strategy — unplayable — and that strategy does not pay against the new equilibrium."""
    from rlcv.games import sgm

    calls = []
    real = sgm._search

    def spy(game, S, frame, deadline, budget):  # noqa: ANN001, ANN202 - a pass-through recorder
        found = real(game, S, frame, deadline, budget)
        own, pair = game.sampled_polymatrix([np.array(s) for s in S])
        calls.append(([len(s) for s in S], list(frame.playable), found, Polymatrix(own, pair)))
        return found

    monkeypatch.setattr(sgm, "_search", spy)
    np.random.seed(346)
    game = game_from_arrays(generate_knapsack(3, 6, ins=6))
    res = solve(game, "m-sgm", time_limit=60)
    assert res.solved and res.backtracks >= 1
    after = [calls[i + 1] for i, c in enumerate(calls[:-1]) if c[2] is None]
    assert after
    for sizes, playable, found, poly in after:
        assert any(pl < s for pl, s in zip(playable, sizes, strict=True))  # the dropped one is still there
        if found is not None:
            regret = _regrets(poly, found.ne.probs)
            for p in range(3):
                assert np.all(regret[p][playable[p] :] >= -1e-9)  # unplayable: no better than the NE value
                assert np.all(found.ne.probs[p][playable[p] :] == 0)
    # strategies are only ever added: one per iteration that found a NE, but the last
    assert sum(len(s) for s in res.strategies) == 3 + res.iterations - res.backtracks - 1
    assert abs(nash_conv(game, res.strategies, res.probs)) <= 1e-6
