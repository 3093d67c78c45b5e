"""Cosine-scale actions and task mixtures in OnlineHPO-v0, the range-test controller (`hpo-range`) and the
hpo-budget methods built on them (issue 30)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rlcv.agents.hpo.range_test import RangeTestConfig, RangeTestPolicy
from rlcv.cli import main
from rlcv.envs.online_hpo import OBS, OBS_FIELDS, OnlineHPOEnv
from rlcv.errors import RlcvError
from rlcv.hpo.cosine_methods import run_method
from rlcv.hpo.runners import cosine, fixed_run

TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cosine_scale_with_no_action_is_the_cosine_baseline():
    scaled = fixed_run({**TINY, "lr_schedule": "cosine"}, 3, {"lr": 0.5})
    baseline = fixed_run(TINY, 3, {"lr": 0.5}, cosine)
    applied = [row[1] for row in scaled["trace"]]
    assert applied == pytest.approx([row[1] for row in baseline["trace"]])
    assert applied == pytest.approx([0.5 * cosine(k, 4) for k in range(4)])
    assert scaled["lr"] == 0.5  # the controlled value is the scale, not the applied rate
    assert scaled["val_loss"] == pytest.approx(baseline["val_loss"], rel=1e-5)


def test_an_action_rescales_the_rest_of_the_schedule():
    env = OnlineHPOEnv(**TINY, lr_schedule="cosine", max_factor=1024.0, lr_init=0.01)
    env.reset(options={"inner_seed": 0})
    env.step(np.zeros(3, np.float32))
    env.step(np.array([math.log2(100.0), 0.0, 0.0], np.float32))  # one action: 0.01 -> 1
    assert env.run.lr == pytest.approx(1.0)
    assert env.run.trace[1][1] == pytest.approx(cosine(1, 4))
    with pytest.raises(ValueError, match="lr_schedule"):
        OnlineHPOEnv(**TINY, lr_schedule="step")


def test_meta_tasks_draw_each_problem_and_can_be_pinned():
    env = OnlineHPOEnv(**TINY, meta_tasks=[{"task": "digits"}, {"task": "digits", "hidden_size": 4}])
    drawn = set()
    for i in range(8):
        env.reset(seed=i)
        drawn.add(env.problem_index)
    assert drawn == {0, 1}
    env.reset(options={"meta_task": 1, "inner_seed": 0})
    assert env.task.n_params < env.problems[0][1].n_params
    with pytest.raises(ValueError, match="meta_task"):
        env.reset(options={"meta_task": 2})
    with pytest.raises(ValueError, match="meta_tasks"):
        OnlineHPOEnv(**TINY, meta_tasks=[{"task": "digits", "depth": 3}])
    with pytest.raises(ValueError, match="landscape"):
        OnlineHPOEnv(**TINY, meta_tasks=[{"task": "digits"}], landscape=True)


def _obs(val: list[float], log10_lr: list[float], used: float) -> torch.Tensor:
    obs = torch.zeros(len(val), len(OBS_FIELDS))
    obs[:, OBS["val_loss"]] = torch.tensor(val)
    obs[:, OBS["log10_lr"]] = torch.tensor(log10_lr)
    obs[:, OBS["budget_used"]] = used
    return obs


def test_range_test_grows_while_improving_then_holds_past_the_last_good_rate():
    space = OnlineHPOEnv(**TINY, max_factor=1024.0).action_space
    policy = RangeTestPolicy(space, RangeTestConfig(growth=2.0, backoff=2.0), log2_lr_max=math.log2(10.0))
    lr = math.log10(0.01)
    assert policy.mode(_obs([2.3], [lr], 0.0))[0, 0] == 0  # the first step runs at the start rate
    val = [2.1, 2.0, 1.9, 1.95]  # improves three times, then not
    actions = []
    for i, v in enumerate(val):
        actions.append(float(policy.mode(_obs([v], [lr], 0.1 * (i + 1)))[0, 0]))
        lr += actions[-1] * math.log10(2.0)
    assert actions[:3] == [1.0, 1.0, 1.0]
    # the 4th step (0.08) failed: hold at backoff × the last improving rate 0.04 = 0.08
    assert 10**lr == pytest.approx(0.08)
    assert float(policy.mode(_obs([5.0], [lr], 0.6))[0, 0]) == 0  # held, no guard
    guarded = RangeTestPolicy(space, RangeTestConfig(guard=0.1), log2_lr_max=3.0)
    guarded.mode(_obs([2.0, 2.0], [-2.0, -2.0], 0.0))
    guarded.mode(_obs([2.5, 1.0], [-2.0, -2.0], 0.1))  # env 0 fails at once, env 1 improves
    out = guarded.mode(_obs([3.0, 0.9], [-2.3, -1.7], 0.2))
    assert out[0, 0] == -1.0 and out[1, 0] == 1.0  # env 0 holds and its guard fires; env 1 grows


def test_range_config_is_checked():
    with pytest.raises(RlcvError, match="growth"):
        RangeTestConfig(growth=1.0)
    with pytest.raises(RlcvError, match="controlled"):
        RangeTestConfig(controlled=["lr", "batch_size"])


@pytest.mark.expensive  # the agent loop / the bench CLI: seconds
def test_hpo_range_through_the_loop_reaches_a_wide_rate_and_costs_one_run(tmp_path: Path):
    summary = run_method("hpo-range", {**TINY, "lr_init": 1e-3}, 0, tmp_path, {"growth": 4.0, "backoff": 1})
    assert summary["cost"]["sgd_steps"] == TINY["budget"]
    assert summary["cost"]["examples"] == 32 * TINY["budget"]  # batch pinned: one run of examples
    assert summary["hparams"]["lr"] > 4e-3  # grew at least once from 1e-3
    with pytest.raises(ValueError, match="unknown method"):
        run_method("hpo-magic", TINY, 0, tmp_path, {})


@pytest.mark.expensive  # the agent loop / the bench CLI: seconds
def test_bench_first_seed_and_range_config_reach_the_report(tmp_path: Path):
    out = tmp_path / "b"
    args = ["bench", "hpo-budget", "--seeds", "1", "--first-seed", "7", "--budget", "20"]
    args += ["--steps-per-action", "10", "--grid", "0.1", "--methods", "cosine", "hpo-range"]
    args += ["--range-config", json.dumps({"growth": 3}), "--env-kwargs", json.dumps({"hidden_size": 8})]
    assert main([*args, "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "per_run").iterdir()) == [
        "cosine-lr0.1_s7.json",
        "hpo-range_s7.json",
    ]
    report = (out / "report.md").read_text()
    assert "--first-seed 7" in report and '"growth": 3' in report
