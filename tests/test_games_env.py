"""rlcv/KnapsackGame-v0: Gymnasium contract, payoff reward, repair / penalty, exact regret in info."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import rlcv.envs  # noqa: F401  (registers the rlcv/ envs)
from rlcv.errors import RlcvError
from rlcv.games.sgm import solve

TINY = {"m": 2, "n": 6, "ins": 3, "seed": 4}


def test_contract_and_default_profile() -> None:
    env = gym.make("rlcv/KnapsackGame-v0", **TINY)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    game = env.unwrapped.game
    assert env.action_space == gym.spaces.MultiBinary(6) and obs.shape == (6,)
    opponent = env.unwrapped.strategies[1][0]  # best response of player 1 to zeros, played surely
    assert np.array_equal(obs, opponent.astype(np.float32))
    x = np.zeros(6, dtype=np.int8)
    x[0] = 1
    _, reward, terminated, truncated, info = env.step(x)
    if info["feasible"]:
        assert reward == pytest.approx(game.payoff(0, [info["x"], opponent]))
    assert terminated and not truncated


def test_equilibrium_strategies_have_zero_regret(tmp_path: Path) -> None:
    env = gym.make("rlcv/KnapsackGame-v0", **TINY, exact_info=True).unwrapped
    res = solve(env.game, "m-sgm")
    players = [
        {
            "strategies": res.strategies[p].tolist(),
            "probabilities": res.probs[p].tolist(),
            "payoff": res.payoffs[p],
        }
        for p in range(2)
    ]
    (tmp_path / "ne.json").write_text(json.dumps({"players": players}))
    env = gym.make(
        "rlcv/KnapsackGame-v0", **TINY, profile=str(tmp_path / "ne.json"), exact_info=True
    ).unwrapped
    env.reset(seed=1)
    for x, q in zip(res.strategies[0], res.probs[0], strict=True):
        if q > 0:
            assert env.step(x)[4]["regret"] == pytest.approx(0.0, abs=1e-9)
    assert env.nash_conv(res.strategies, res.probs) <= 1e-9


def test_infeasible_selection_is_repaired_or_penalised() -> None:
    env = gym.make("rlcv/KnapsackGame-v0", **TINY).unwrapped
    a, b = env.game.A[0][0], env.game.b[0][0]
    x = (a > 0).astype(np.int8)  # every positive weight: the heaviest selection
    if a @ x <= b:
        pytest.skip("this draw has no infeasible selection")
    env.reset(seed=0)
    info = env.step(x)[4]
    assert info["feasible"] and a @ info["x"] <= b
    pen = gym.make("rlcv/KnapsackGame-v0", **TINY, infeasible="penalty", penalty=-7.0).unwrapped
    pen.reset(seed=0)
    assert pen.step(x)[1] == -7.0


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RlcvError, match="player 5 does not exist"):
        gym.make("rlcv/KnapsackGame-v0", **TINY, player=5)
    with pytest.raises(RlcvError, match="choose 'repair' or 'penalty'"):
        gym.make("rlcv/KnapsackGame-v0", **TINY, infeasible="clip")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(RlcvError, match="is not a result JSON"):
        gym.make("rlcv/KnapsackGame-v0", **TINY, profile=str(tmp_path / "bad.json"))
