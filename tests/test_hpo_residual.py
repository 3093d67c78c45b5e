"""``rlcv/ResidualHPO-v0`` and ``ppo-res`` (issue 30): a controller that modulates ``hpo-sweep``'s cosine
scale by an absolute log2 offset, so that doing nothing is the hand-designed run."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rlcv.envs.residual_hpo import RESIDUAL_OBS, ResidualHPOEnv
from rlcv.hpo.sweep_cosine import run_sweep_cosine

TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
SWEEP = {"sweep_steps": 12, "every": 2, "lr_low": 0.01, "lr_high": 1.0, "factor": 2.0, "fit": 1}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _episode(env: ResidualHPOEnv, action: float, seed: int) -> tuple[list[np.ndarray], list[float], dict]:
    obs, _ = env.reset(options={"inner_seed": seed})
    observations, rewards = [obs], []
    while True:
        obs, reward, terminated, truncated, info = env.step(np.array([action], np.float32))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            return observations, rewards, info["episode"]


def test_a_zero_offset_throughout_is_hpo_sweeps_run_exactly():
    env = ResidualHPOEnv(sweep_config=SWEEP, **TINY)
    _, rewards, record = _episode(env, 0.0, 3)
    ref = run_sweep_cosine({**TINY, "batch_size_range": [32, 32]}, 3, SWEEP)
    assert (record["val_loss"], record["test_accuracy"]) == (ref["val_loss"], ref["test_accuracy"])
    assert record["sgd_steps"] == TINY["budget"] == ref["cost"]["sgd_steps"]  # the sweep is charged
    assert record["examples"] == ref["cost"]["examples"] == 32 * TINY["budget"]  # batch pinned
    # the return is the log-decrease of the validation loss over the cosine run
    assert sum(rewards) == pytest.approx(math.log(env.val_start) - math.log(record["val_loss"]), abs=1e-5)


def test_the_offset_is_absolute_it_scales_the_schedule_and_does_not_accumulate():
    base = _episode(ResidualHPOEnv(sweep_config=SWEEP, **TINY), 0.0, 1)[2]
    up = _episode(ResidualHPOEnv(sweep_config=SWEEP, **TINY), 1.0, 1)[2]
    clipped = _episode(ResidualHPOEnv(sweep_config=SWEEP, **TINY), 5.0, 1)[2]  # beyond ±A = ±1
    lrs = [row[1] for row in base["trace"]]
    assert len(lrs) >= 2 and lrs[-1] < lrs[0]  # the cosine decays
    assert [row[1] for row in up["trace"]] == pytest.approx([2.0 * lr for lr in lrs])
    assert [row[1] for row in clipped["trace"]] == pytest.approx([2.0 * lr for lr in lrs])
    assert up["offsets"] == [1.0] * len(lrs) and up["lr_star"] == base["lr_star"]


def test_observations_are_scale_free_and_in_bounds_and_the_env_passes_gymnasiums_checks():
    from gymnasium.utils.env_checker import check_env

    env = ResidualHPOEnv(sweep_config=SWEEP, **TINY)
    observations, _, _ = _episode(env, -0.5, 2)
    assert all(env.observation_space.contains(o) for o in observations)
    assert observations[0][RESIDUAL_OBS.index("budget_used")] == 0.0
    assert observations[-1][RESIDUAL_OBS.index("budget_used")] == 1.0
    assert observations[-1][RESIDUAL_OBS.index("offset")] == -0.5
    check_env(gym.make("rlcv/ResidualHPO-v0", sweep_config=SWEEP, **TINY).unwrapped, skip_render_check=True)


@pytest.mark.expensive
def test_tasks_are_drawn_per_episode_and_the_episode_log_says_which(tmp_path: Path):
    import json

    log = tmp_path / "log.jsonl"
    tasks = [{"task": "digits", "network": "mlp"}, {"task": "mnist1d", "network": "mlp"}]
    env = ResidualHPOEnv(
        sweep_config=SWEEP, meta_tasks=tasks, inner_seed_range=[10, 20], episode_log=str(log), **TINY
    )
    env.reset(seed=0)
    drawn = set()
    for _ in range(4):
        _, info = env.reset()
        drawn.add(info["meta_task"])
        assert 10 <= info["inner_seed"] < 20
    assert drawn == {0, 1}
    _episode(env, 0.0, 12)
    record = json.loads(log.read_text().splitlines()[-1])
    assert record["meta_task"] == env.task_index and record["inner_seed"] == 12


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="guard"):
        ResidualHPOEnv(sweep_config={**SWEEP, "guard": 0.1}, **TINY)
    with pytest.raises(ValueError, match="max_multiplier"):
        ResidualHPOEnv(max_multiplier=1.0, **TINY)
    with pytest.raises(RuntimeError, match="reset"):
        ResidualHPOEnv(**TINY).step(np.zeros(1, np.float32))


@pytest.mark.expensive
def test_ppo_res_meta_trains_on_other_tasks_and_runs_its_policy(tmp_path: Path):
    from rlcv.hpo.cosine_methods import meta_train_ppo_res, run_method

    kw = {**TINY, "budget": 180, "steps_per_action": 10}
    meta = meta_train_ppo_res(kw, tmp_path / "runs" / "policy", 4, 0)
    assert meta["episodes"] >= 2 and set(meta["task_per_episode"]) <= {0, 1}
    assert all(1_000_000 <= s < 2_000_000 for s in meta["inner_seeds"])  # never an evaluation seed
    out = run_method("ppo-res", {**kw, "task": "mnist1d", "network": "cnn"}, 0, tmp_path, {}, None, tmp_path)
    assert out["cost"]["sgd_steps"] == kw["budget"] and math.isfinite(out["val_loss"])
