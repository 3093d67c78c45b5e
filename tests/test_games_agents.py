"""`rlcv train --algo ipg-*` on rlcv/KnapsackGame-v0: one update per outer iteration, exact NashConv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlcv.cli import main


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _train(algo: str, steps: int, run: Path, *extra: str) -> int:
    return main(
        [
            "train",
            "--algo",
            algo,
            "--env",
            "rlcv/KnapsackGame-v0",
            "--steps",
            str(steps),
            "--run-dir",
            str(run),
            "--no-progress",
            *extra,
        ]
    )


def test_msgm_agent_reaches_the_papers_equilibrium(tmp_path: Path) -> None:
    # The env's default game is the paper's Game_2_20_0 (generator, seed 1, ins 0): m-SGM needs 10 iterations.
    assert _train("ipg-msgm", 12, tmp_path / "r") == 0
    rows = _rows(tmp_path / "r")
    assert [r["converged"] for r in rows].index("1.0") == 9
    assert float(rows[-1]["nash_conv"]) <= 1e-6 and float(rows[0]["nash_conv"]) > 1.0
    assert float(rows[-1]["sampled_size"]) == 5.0


def test_msgm_agent_plays_the_lot_sizing_env(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rlcv/LotSizingGame-v0's default game is the paper's T = 10 instance 0: m-SGM converges after its
    15 iterations to a pure NE (NashConv ~0), and the policy plays the encoded strategy."""
    args = ["--env", "rlcv/LotSizingGame-v0", "--env-kwargs", '{"T": 10}']
    assert _train("ipg-msgm", 16, tmp_path / "r", *args) == 0
    rows = _rows(tmp_path / "r")
    assert [r["converged"] for r in rows].index("1.0") == 14
    assert abs(float(rows[-1]["nash_conv"])) <= 2e-6 and float(rows[-1]["reward_mean"]) > 0
    assert _train("ipg-psro", 2, tmp_path / "p", *args) == 2  # the PG oracles need MultiBinary items
    assert "plays rlcv/KnapsackGame-v0 (MultiBinary(n))" in capsys.readouterr().err


def test_fictitious_play_logs_exact_nash_conv(tmp_path: Path) -> None:
    assert _train("ipg-fp", 5, tmp_path / "r", "--env-kwargs", '{"n": 8}') == 0
    rows = _rows(tmp_path / "r")
    assert len(rows) == 5 and all(float(r["nash_conv"]) >= -1e-9 for r in rows)


def test_ipg_agents_refuse_other_envs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "train",
            "--algo",
            "ipg-sgm",
            "--env",
            "CartPole-v1",
            "--steps",
            "2",
            "--run-dir",
            str(tmp_path / "r"),
            "--no-progress",
        ]
    )
    assert code == 2 and "plays rlcv/KnapsackGame-v0" in capsys.readouterr().err


# --- RL oracles: ipg-psro (PSRO with a policy-gradient oracle) and ipg-pg (independent PG self-play) ---

_TINY = ("--env-kwargs", '{"n": 6}')


@pytest.mark.parametrize("algo", ["ipg-psro", "ipg-pg"])
def test_rl_oracle_agents_log_finite_exact_nash_conv(algo: str, tmp_path: Path) -> None:
    cfg = ("--set", "pg_steps=10", "samples=16")
    assert _train(algo, 3, tmp_path / "r", *_TINY, *cfg) == 0
    rows = _rows(tmp_path / "r")
    assert [r["iteration"] for r in rows] == ["1.0", "2.0", "3.0"]
    assert [r["oracle_calls"] for r in rows] == ["2.0", "4.0", "6.0"]  # one PG run per player per update
    assert all(np.isfinite(float(r["nash_conv"])) and float(r["nash_conv"]) >= -1e-9 for r in rows)


def test_psro_sets_grow_with_feasible_strategies_only() -> None:
    import gymnasium as gym
    import torch

    from rlcv.agents.ipg_rl import IPGPGConfig, PSROAgent
    from rlcv.env_hooks import BindContext
    from rlcv.games.nash_conv import nash_conv

    env: Any = gym.make("rlcv/KnapsackGame-v0", n=6).unwrapped
    torch.manual_seed(0)
    agent = PSROAgent(
        observation_space=env.observation_space,
        action_space=env.action_space,
        config=IPGPGConfig(pg_steps=10, samples=16),
    )
    agent.bind(BindContext("rlcv/KnapsackGame-v0", {"n": 6}, None, None))  # type: ignore[arg-type]
    sizes = [len(s) for s in agent.strategies]
    assert sizes == [1, 1]
    for _ in range(3):
        agent.advance(0)
        new = [len(s) for s in agent.strategies]
        assert all(b >= a for a, b in zip(sizes, new, strict=True)) and new[0] <= sizes[0] + 1
        sizes = new
    for p, S in enumerate(agent.strategies):
        assert all(env.game.feasible(p, x) for x in S)
        assert len({tuple(x) for x in S}) == len(S)  # no duplicates
    assert sum(sizes) > 2
    assert np.allclose([q.sum() for q in agent.probs], 1.0)
    assert nash_conv(env.game, agent.strategies, agent.probs) >= -1e-9


@pytest.mark.parametrize("algo", ["ipg-psro", "ipg-pg"])
def test_rl_oracle_runs_are_reproducible(algo: str, tmp_path: Path) -> None:
    cfg = ("--set", "pg_steps=5", "samples=8")
    for name in ("a", "b"):
        assert _train(algo, 2, tmp_path / name, *_TINY, *cfg, "--seed", "3") == 0
    keys = ("nash_conv", "sampled_size", "support_size", "oracle_gain")
    a, b = ([{k: r[k] for k in keys} for r in _rows(tmp_path / n)] for n in ("a", "b"))
    assert a == b


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("pg_steps=0", "invalid config: pg_steps must be >= 1"),
        ("lr=0", "invalid config: lr must be > 0"),
        ("samples=1", "invalid config: samples must be >= 2"),
    ],
)
def test_rl_oracle_bad_config_is_one_line(
    setting: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _train("ipg-psro", 1, tmp_path / "r", *_TINY, "--set", setting) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("algo", ["ipg-psro", "ipg-pg"])
def test_rl_oracle_resume_continues_exactly(algo: str, tmp_path: Path) -> None:
    cfg = ("--set", "pg_steps=5", "samples=8")
    assert _train(algo, 3, tmp_path / "full", *_TINY, *cfg) == 0
    assert _train(algo, 1, tmp_path / "half", *_TINY, *cfg) == 0
    assert main(["train", "--resume", str(tmp_path / "half"), "--steps", "3", "--no-progress"]) == 0
    keys = ("nash_conv", "sampled_size", "oracle_calls", "oracle_gain")
    full, half = ([{k: r[k] for k in keys} for r in _rows(tmp_path / n)] for n in ("full", "half"))
    assert full == half
