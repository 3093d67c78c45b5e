"""hpo-floor and hpo-schedule: their rules, and both through the agent loop (`rlcv train`)."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from rlcv.agents.hpo.floor import FloorConfig, FloorPolicy
from rlcv.agents.hpo.schedule import ScheduleConfig, SchedulePolicy
from rlcv.cli import main
from rlcv.config import build_config
from rlcv.envs.online_hpo import LANDSCAPE_FIELDS, OBS, OBS_FIELDS, OnlineHPOEnv

TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _obs(n: int = 1, **fields: list[float]) -> torch.Tensor:
    obs = torch.zeros(n, len(OBS_FIELDS) + len(LANDSCAPE_FIELDS))
    for name, values in fields.items():
        obs[:, OBS[name]] = torch.tensor(values)
    return obs


def test_floor_rule_raises_short_steps_and_lowers_overshooting_ones() -> None:
    space = OnlineHPOEnv(**TINY).action_space
    policy = FloorPolicy(space, build_config(FloorConfig, {"factor": 1.5}))
    action = policy.mode(_obs(4, floor_alpha=[1.0, 0.95, 0.7, 0.3]))
    assert action[:, 0].tolist() == pytest.approx([math.log2(1.5)] * 2 + [0.0, -math.log2(1.5)])
    assert action[:, 1:].abs().max() == 0


def test_floor_controller_needs_the_landscape_observation(tmp_path, capsys) -> None:
    args = ["train", "--algo", "hpo-floor", "--env", "rlcv/OnlineHPO-v0", "--steps", "4"]
    kwargs = json.dumps({**TINY, "landscape": False})
    code = main([*args, "--run-dir", str(tmp_path / "r"), "--no-progress", "--env-kwargs", kwargs])
    assert code == 2 and "landscape: true" in capsys.readouterr().err


@pytest.mark.parametrize("mode,column,sign", [("lr_decay", 0, -1), ("batch_growth", 1, 1)])
def test_schedule_moves_the_noise_scale_down_at_each_milestone(mode: str, column: int, sign: int) -> None:
    space = OnlineHPOEnv(**TINY, max_factor=4.0).action_space
    cfg = build_config(ScheduleConfig, {"mode": mode, "milestones": [0.5, 0.75], "factor": 4.0})
    policy = SchedulePolicy(space, cfg)
    start = {"log10_lr": [-2.0], "log2_batch_size": [5.0]}
    assert policy.mode(_obs(budget_used=[0.0], **start)).abs().max() == 0  # remembers the start
    assert policy.mode(_obs(budget_used=[0.25], **start)).abs().max() == 0
    action = policy.mode(_obs(budget_used=[0.5], **start))
    assert action[0, column].item() == pytest.approx(sign * 2.0) and action[0, 1 - column] == 0
    moved = dict(start)
    key = "log10_lr" if mode == "lr_decay" else "log2_batch_size"
    moved[key] = [start[key][0] + sign * (2.0 if key == "log2_batch_size" else 2.0 * math.log10(2))]
    assert policy.mode(_obs(budget_used=[0.6], **moved)).abs().max() < 1e-5  # at target: hold
    action = policy.mode(_obs(budget_used=[0.8], **moved))
    assert action[0, column].item() == pytest.approx(sign * 2.0, abs=1e-5)
    # A new episode (budget used 0) restarts from its own start value.
    assert policy.mode(_obs(budget_used=[0.0], **moved)).abs().max() == 0


@pytest.mark.parametrize("algo,extra", [("hpo-floor", []), ("hpo-schedule", ["--set", "mode=batch_growth"])])
def test_landscape_controllers_run_through_the_loop(tmp_path, algo: str, extra: list[str]) -> None:
    log = tmp_path / "log.jsonl"
    kwargs = json.dumps({**TINY, "episode_log": str(log), "batch_size_range": [8, 1024]})
    code = main(
        [
            "train",
            "--algo",
            algo,
            "--env",
            "rlcv/OnlineHPO-v0",
            "--steps",
            "8",
            "--run-dir",
            str(tmp_path / "run"),
            "--no-progress",
            "--num-threads",
            "1",
            "--env-kwargs",
            kwargs,
            *extra,
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 2 and all(r["steps_done"] == TINY["budget"] for r in records)
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    if algo == "hpo-floor":
        assert "landscape" in records[0] and math.isfinite(float(rows[-1]["floor_alpha"]))
    else:  # batch 32 doubled at 50 % and 75 % of the budget
        assert [t[2] for t in records[0]["trace"]] == [32, 32, 64, 128]
