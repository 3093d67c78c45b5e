"""rlcv.recorder: rows, evaluation and checkpoint cadences in env steps, resume truncation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlcv import checkpoint
from rlcv.logger import COMMON_METRICS
from rlcv.recorder import Recorder, crossed
from rlcv.run_dir import RunDir


def test_crossed() -> None:
    assert crossed(1000, 0, 1000) and crossed(1000, 999, 1024) and crossed(300, 256, 512)
    assert not crossed(1000, 1024, 1536) and not crossed(0, 0, 10**9)
    assert crossed(256, 0, 1024)  # several multiples in one update: one event


def _record_updates(run: RunDir, steps: list[int], *, resume_step: int | None = None) -> list[int]:
    """Record updates ending at ``steps``; returns the steps at which an evaluation ran."""
    evaluated: list[int] = []
    recorder = Recorder(
        run,
        ("loss",),
        total_steps=steps[-1],
        start_step=resume_step or 0,
        eval_freq=1000,
        checkpoint_freq=768,
        progress=False,
        desc="test",
        resume_step=resume_step,
    )
    prev = resume_step or 0
    try:
        for step in steps:

            def evaluate(step: int = step) -> dict[str, Any]:
                evaluated.append(step)
                return {"mean_return": float(step), "std_return": 0.5}

            row = recorder.record(
                step=step,
                prev_step=prev,
                episodes=step // 100,
                episode_return_mean=None if step == 256 else 1.5,
                episode_length_mean=None,
                metrics={"loss": step / 1000},
                evaluate=evaluate,
                state=lambda step=step: {"step": step},
            )
            assert row["step"] == step and row["fps"] > 0
            prev = step
    finally:
        recorder.close()
    return evaluated


def test_rows_eval_and_checkpoint_cadence(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert _record_updates(run, [256, 512, 768, 1024, 1280]) == [1024]
    rows = run.metrics_rows()
    assert list(rows[0]) == [*COMMON_METRICS, "loss"]
    assert [r["step"] for r in rows] == ["256", "512", "768", "1024", "1280"]
    assert rows[0]["episode_return_mean"] == "" and rows[1]["episode_return_mean"] == "1.5"
    assert [r["eval_return_mean"] for r in rows] == ["", "", "", "1024.0", ""]
    assert rows[3]["eval_return_std"] == "0.5" and rows[4]["loss"] == "1.28"
    assert checkpoint.load(run.checkpoint())["step"] == 1280
    assert sorted(p.name for p in run.checkpoints.glob("step_*.pt")) == ["step_000000768.pt"]
    assert list(run.tensorboard.glob("events.out.tfevents.*"))


def test_resume_drops_rows_after_the_checkpoint(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    _record_updates(run, [256, 512, 768])  # the checkpoint resumed from is 512: row 768 is dropped
    _record_updates(run, [768, 1024], resume_step=512)
    assert [r["step"] for r in run.metrics_rows()] == ["256", "512", "768", "1024"]


def test_progress_bar_counts_env_steps(tmp_path: Path) -> None:
    recorder = Recorder(
        RunDir(tmp_path),
        (),
        total_steps=1024,
        start_step=512,
        eval_freq=0,
        checkpoint_freq=0,
        progress=True,
        desc="t",
        resume_step=512,
    )
    recorder.record(
        step=1024,
        prev_step=512,
        episodes=0,
        episode_return_mean=None,
        episode_length_mean=None,
        metrics={},
        evaluate=lambda: pytest.fail("eval_freq 0 disables evaluation"),
        state=dict,
    )
    assert recorder.bar.n == 1024
    recorder.close()
