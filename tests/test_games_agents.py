"""`rlcv train --algo ipg-*` on rlcv/KnapsackGame-v0: one update per outer iteration, exact NashConv."""

from __future__ import annotations

import csv
from pathlib import Path

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
