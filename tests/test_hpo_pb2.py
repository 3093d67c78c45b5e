"""`hpo-pb2`: PB2's bandit explore step (our own implementation) on synthetic rounds, and through the loop."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rlcv.agents.hpo.pb2 import PB2Agent, PB2Config
from rlcv.envs.online_hpo import OnlineHPOEnv
from rlcv.hpo.cosine_methods import run_method

TINY = {"budget": 60, "steps_per_action": 10, "hidden_size": 8}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _agent(**config) -> PB2Agent:
    env = OnlineHPOEnv(**TINY)
    return PB2Agent(
        observation_space=env.observation_space,
        action_space=env.action_space,
        config=PB2Config(kappa=0.0, candidates=128, **config),
    )


def _state(steps: int, lr: float, val: float) -> dict:
    return {"steps_done": steps, "lr": lr, "weight_decay": 1e-4, "val_loss": val}


@pytest.mark.expensive  # imports scikit-learn's Gaussian processes (seconds on a loaded machine)
def test_pb2_learns_where_the_loss_falls_fastest():
    torch.manual_seed(0)
    agent = _agent()
    lrs = [0.001, 0.01, 0.1, 1.0, 5.0, 0.03]
    agent._record([_state(10, lr, 2.0) for lr in lrs])
    # the round's decrease peaks at lr 0.1 (log-quadratic), whatever the weight decay
    agent._record([_state(20, lr, 2.0 - math.exp(-((math.log10(lr) + 1) ** 2))) for lr in lrs])
    assert len(agent.data_y) == len(lrs)
    (lr, wd), *_ = agent._suggest(20.0, 1)
    assert 0.02 < lr < 0.5
    assert 1e-6 <= wd <= 0.1
    agent._record([_state(0, 0.1, 2.0) for _ in lrs])  # a new episode: its own data
    assert agent.data_y == []


def test_pb2_without_data_suggests_inside_the_ranges():
    torch.manual_seed(1)
    picks = _agent()._suggest(0.0, 3)
    assert len(picks) == 3 and all(1e-4 <= lr <= 10 and 1e-6 <= wd <= 0.1 for lr, wd in picks)


def test_pb2_two_members_through_the_loop_cost_two_runs(tmp_path: Path):
    summary = run_method("pb2-2-b32", TINY, 0, tmp_path, {})
    assert summary["cost"]["sgd_steps"] == 2 * TINY["budget"]
    assert summary["cost"]["examples"] == 2 * 32 * TINY["budget"]
    assert math.isfinite(summary["val_loss"])
