"""`rlcv bench oracle-spent`: both arms tune on the same grid and seeds, then are scored on fresh
seeds against plain PPO's target (analysis tested on hand-made summaries; one short real sweep)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench import tuning
from rlcv.diagnostics.learning_runs import best_configs
from rlcv.errors import RlcvError

STEPS = [1000, 2000, 3000, 4000]


def _spec(tmp_path: Path, **kw) -> tuning.SpentSpec:
    base = dict(env="E-v0", ratio=4, grid=["learning_rate=1e-3"], tune_seeds=[10], eval_seeds=3, steps=4000)
    base.update(target_step=2000, eval_freq=1000, out=str(tmp_path))
    base.update(kw)
    return tuning.SpentSpec(**base)


def _write(
    spec: tuning.SpentSpec, ratio: int, k: int, seed: int, returns: list[float], wall: float = 100.0
) -> None:
    path = tuning.job(spec, ratio, k, seed).summary
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {"train_args": [], "eval": {"steps": STEPS, "return_mean": returns}, "final": {}}
    summary["wall_seconds"] = wall
    path.write_text(json.dumps(summary))


def test_layout_shares_the_oracle_bench_runs_and_appends_the_grid_to_set(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    preset, tuned = tuning.job(spec, 4, 0, 0), tuning.job(spec, 4, 1, 0)
    assert preset.summary == tmp_path / "summaries" / "E-v0" / "r4" / "s0.json"  # as `bench oracle`
    assert tuned.summary == tmp_path / "summaries" / "E-v0" / "r4-g1" / "s0.json"
    assert tuned.train_args[-3:] == ["--set", "oracle_ratio=4", "learning_rate=1e-3"]
    assert [j.name for j in tuning.tuning_jobs(spec)] == [
        "E-v0/r1/s10", "E-v0/r4/s10", "E-v0/r1-g1/s10", "E-v0/r4-g1/s10"
    ]  # fmt: skip


def test_each_arm_keeps_its_best_config_and_is_scored_on_fresh_seeds(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    # Tuning: plain PPO prefers its preset, the oracle prefers g1 (higher area under the curve).
    _write(spec, 1, 0, 10, [1, 2, 3, 4])
    _write(spec, 1, 1, 10, [0, 1, 2, 3])
    _write(spec, 4, 0, 10, [1, 2, 3, 4])
    _write(spec, 4, 1, 10, [3, 4, 5, 6])
    assert tuning.eval_jobs(spec, {1: 0, 4: 1})[0].name == "E-v0/r1/s0"
    # Evaluation: plain PPO reaches 2.0 at 2000 steps (its own target); the oracle preset at 2000;
    # the chosen oracle config at 1000 on seeds 0, 1 and never on seed 2.
    for s in range(3):
        _write(spec, 1, 0, s, [1, 2, 3, 4])
        _write(spec, 4, 0, s, [1, 2, 3, 5])
        _write(spec, 4, 1, s, [2, 3, 4, 6] if s < 2 else [0, 0, 0, 0])
    result = tuning.report(spec, echo=lambda _: None)
    assert result["chosen"] == {"1": 0, "4": 1}
    arms = result["arms"]
    assert set(arms) == {"r1", "r4", "r4-g1"}
    assert arms["r1"]["speedup"]["point"] == 1.0 and arms["r4"]["speedup"]["point"] == 1.0
    # Steps: plain PPO 2000 on every seed; the chosen oracle config 1000, 1000, never: medians 2000 / 1000.
    assert arms["r4-g1"]["speedup"]["point"] == 2.0 and tuple(arms["r4-g1"]["speedup"]["never"]) == (0, 1)
    assert arms["r4-g1"]["seeds"]["2"]["steps"] is None
    assert arms["r4"]["final_minus_ppo"]["point"] == pytest.approx(1.0)
    assert arms["r4"]["final_minus_ppo"]["low"] == arms["r4"]["final_minus_ppo"]["high"] == 1.0
    # Tuned against tuned: the chosen oracle arm against plain PPO's chosen arm (here its preset).
    h2h = result["head_to_head"]["r4-g1"]
    assert h2h["vs"] == "r1" and h2h["seeds"] == ["0", "1", "2"] and h2h["speedup"]["point"] == 2.0
    assert h2h["final_minus_tuned_ppo"]["point"] == pytest.approx(0.0)  # finals 6, 6, 0 against 4, 4, 4
    page = (tmp_path / "spent_E-v0.md").read_text()
    assert "g1: learning_rate=1e-3" in page and "**chosen**" in page and "2.00×" in page
    assert "| r4-g1 | r1 | 3 | 2.00× [" in page


def test_evaluation_waits_for_every_tuning_run(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    _write(spec, 1, 0, 10, [1, 2, 3, 4])
    assert best_configs(tuning.tuning_scores(spec)) is None
    result = tuning.report(spec, echo=lambda _: None)
    assert result["arms"] == {} and "tuning is incomplete" in (tmp_path / "spent_E-v0.md").read_text()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ratio": 1}, "--ratio must be >= 2"),
        ({"tune_seeds": [2]}, "also evaluation seeds"),
        ({"grid": ["learning_rate"]}, "is not KEY=VALUE"),
        ({"grid": ["oracle_ratio=8"]}, "may not set oracle_ratio"),
        ({"target_step": 99}, "--target-step 99 must lie in"),
    ],
)
def test_bad_specs_are_one_line_errors(tmp_path: Path, kw: dict, message: str) -> None:
    with pytest.raises(RlcvError, match=message):
        _spec(tmp_path, **kw).validate()
