"""`rlcv bench cost-profile` on hand-made profiles (the committed page's drift test is in
tests/test_reports_regenerate.py; profiling trains HalfCheetah runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench import mbmf_cost
from rlcv.cli import main
from rlcv.diagnostics.training_cost import PHASES, phase_seconds


def test_phase_seconds_sums_cumulative_time_of_matching_functions() -> None:
    stats = {
        ("/x/rlcv/loop.py", 10, "train"): (1, 1, 0.5, 7.0, {}),
        ("/x/rlcv/dynamics.py", 5, "train_dynamics"): (3, 3, 1.0, 2.0, {}),
        ("/y/rlcv/dynamics.py", 9, "train_dynamics"): (1, 1, 0.1, 0.5, {}),
        ("/x/rlcv/dynamics.py", 7, "other"): (1, 1, 0.1, 9.0, {}),
    }
    seconds = phase_seconds(stats)
    assert seconds["training loop"] == 7.0 and seconds["model training"] == 2.5
    assert seconds["collect (env + policy)"] == 0


def _result() -> dict:
    labels = [label for label, _, _ in PHASES]
    ppo = dict.fromkeys(labels, 0.0) | {"training loop": 5.0, "collect (env + policy)": 2.0}
    mbmf = dict.fromkeys(labels, 0.0) | {
        "training loop": 15.0,
        "collect (env + policy)": 1.99,
        "model training": 7.5,
    }
    return {"env": "E-v0", "steps": 64, "cumulative_seconds": {"ppo": ppo, "mbmf-ppo": mbmf}}


def test_page_shares_of_the_extra_time() -> None:
    page = mbmf_cost.profile_page(_result(), "x.json")
    assert "| phase | PPO s | MBMF-PPO s | share of MBMF's extra 10.0 s |" in page
    assert "| model training | 0.0 | 7.5 | 75% |" in page
    assert "| collect (env + policy) | 2.0 | 2.0 | 0% |" in page  # -0.1 %: no "-0%"


def test_report_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    assert main(["bench", "cost-profile", "--json", str(path), "--report-only"]) == 2
    assert "p.json is missing" in capsys.readouterr().err
    path.write_text(json.dumps(_result()))
    assert main(["bench", "cost-profile", "--json", str(path), "--report-only"]) == 0
    assert (tmp_path / "p.md").read_text() == mbmf_cost.profile_page(_result(), str(path))
