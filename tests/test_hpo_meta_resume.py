"""PPO meta-training for `rlcv bench hpo-budget` (``ppo`` / ``ppo-x``) resumes after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.hpo.runners import ppo_meta_train, read_log, resume_point, trim_log
from rlcv.run_dir import RunDir

TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}  # 4 env steps per inner run
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _record(length: int, seed: int) -> dict:
    return {"inner_seed": seed, "curve": [[0.0] * 5] * length}


def test_trim_log_keeps_the_episodes_a_checkpoint_had_seen(tmp_path: Path):
    log = tmp_path / "meta.jsonl"
    log.write_text("".join(json.dumps(_record(n, i)) + "\n" for i, n in enumerate([4, 2, 4, 4])))
    trim_log(log, 10)  # 4 + 2 + 4 env steps = 10: the fourth episode came after the checkpoint
    assert [r["inner_seed"] for r in read_log(log)] == [0, 1, 2]
    trim_log(log, 3)
    assert read_log(log) == []
    assert resume_point(tmp_path / "no-run") is None


@pytest.mark.expensive  # two tiny PPO trainings through the loop: seconds
def test_an_interrupted_meta_training_resumes_from_its_checkpoint(tmp_path: Path):
    run_dir = tmp_path / "runs" / "meta"
    # Interrupted after its first PPO update (8 env steps = 2 inner runs of 4): a run of 2 inner runs
    # whose final policy is then removed, with a stale third episode in the log, resumed to 4 runs.
    first = ppo_meta_train(TINY, run_dir, episodes=2, seed=0, n_steps=8)
    assert first["episodes"] == 2 and "resumed_from_step" not in first
    assert resume_point(run_dir) is None  # finished: nothing to resume
    log = run_dir.parent / "meta.jsonl"
    stale = read_log(log)[-1]
    log.write_text(log.read_text() + json.dumps({**stale, "inner_seed": -1}) + "\n")
    run = RunDir(run_dir)
    assert run.final_policy is not None
    run.final_policy.unlink()
    assert resume_point(run_dir) == 8
    again = ppo_meta_train(TINY, run_dir, episodes=4, seed=0, n_steps=8)
    assert again["resumed_from_step"] == 8
    assert again["episodes"] == 4  # 2 kept from before the checkpoint + 2 collected after it
    assert again["inner_seeds"][:2] == first["inner_seeds"] and -1 not in again["inner_seeds"]
    assert RunDir(run_dir).final_policy is not None
