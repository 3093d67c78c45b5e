"""rlcv.run_dir: layout, config.yaml round trip and errors, metrics rows, finished-ness."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlcv import checkpoint
from rlcv.errors import RlcvError
from rlcv.run_dir import RunDir, default_run_dir, new_meta

META = new_meta(algo="ppo", env="rlcv/LQR-v0", steps=512, seed=3, config={"n_steps": 256, "gamma": 0.99})


def test_paths_and_default_dir(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "R")
    assert run.config == tmp_path / "R" / "config.yaml"
    assert run.command_log.name == "command.txt" and run.metrics.name == "metrics.csv"
    assert run.checkpoint() == tmp_path / "R" / "checkpoints" / "last.pt"
    assert run.step_checkpoint(2048).name == "step_000002048.pt"
    assert run.policy.name == "policy.pt" and run.sb3_algorithm.name == "model.zip"
    assert str(run) == str(tmp_path / "R")
    root = tmp_path / "runs"
    assert default_run_dir("ppo", "rlcv/LQR-v0", root) == root / "ppo_rlcv-LQR-v0_1"
    for name in ("ppo_rlcv-LQR-v0_1", "ppo_rlcv-LQR-v0_7", ".ppo_rlcv-LQR-v0_9.staging", "ppo_rlcv-LQR-v0_x"):
        (root / name).mkdir(parents=True)
    (root / "trpo_rlcv-LQR-v0_12").mkdir()
    assert default_run_dir("ppo", "rlcv/LQR-v0", root) == root / "ppo_rlcv-LQR-v0_10"


def test_create_round_trip_and_refuse_existing(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "R")
    run.check_new()  # absent: fine
    run.create(META, ["train", "--algo", "ppo", "--env", "rlcv/LQR-v0"])
    assert run.is_run() and run.read_meta() == META
    assert list(META) == ["algo", "env", "steps", "seed", "config"]  # the key order config.yaml shows
    with pytest.raises(RlcvError, match="already exists; continue it with `rlcv train --resume"):
        run.check_new()
    run.log_command(["train", "--resume", str(run.path)])
    lines = run.command_log.read_text().splitlines()
    assert lines[0] == "rlcv train --algo ppo --env rlcv/LQR-v0" and lines[1].startswith(
        "rlcv train --resume"
    )


def test_set_total_steps(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.create(dict(META), [])
    meta = run.read_meta()
    run.set_total_steps(meta, None)
    assert run.read_meta()["steps"] == 512
    run.set_total_steps(meta, 1024)
    assert meta["steps"] == 1024 and run.read_meta()["steps"] == 1024


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("", "not a run directory (no config.yaml)"),
        ("algo: [unclosed", "not valid YAML"),
        ("algo: ppo\nenv: X\n", "lacks algo/env/steps/seed/config"),
    ],
)
def test_read_meta_errors(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "R"
    if content is not None:
        path.mkdir()
        if content:
            (path / "config.yaml").write_text(content)
    with pytest.raises(RlcvError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        RunDir(path).read_meta()
    assert "\n" not in str(info.value)


def test_metrics_rows_and_finished(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.metrics_rows() == [] and run.last_step() == 0 and not run.is_finished(512)
    run.create(dict(META), [])
    run.metrics.write_text("step,episodes\n256,1\n512,3\n")
    assert run.metrics_rows() == [{"step": "256", "episodes": "1"}, {"step": "512", "episodes": "3"}]
    assert run.last_step() == 512
    assert not run.is_finished()  # no final policy yet: the run may have been killed before saving it
    checkpoint.save({"policy": {}}, run.policy)
    assert run.is_finished() and run.is_finished(512) and not run.is_finished(1024)


def test_final_policy_reads_old_model_pt(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.final_policy is None
    (tmp_path / "model.pt").write_bytes(b"x")  # a run made before the rename
    assert run.final_policy == tmp_path / "model.pt"
    run.policy.write_bytes(b"y")
    assert run.final_policy == run.policy


# ---------------------------------------------------------------------------- issue 12: staging, metrics


def test_stage_publish_and_discard(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "R")
    run.stage(META, ["train"])
    assert run.is_staged and run.path == tmp_path / ".R.staging" and run.read_meta() == META
    assert not (tmp_path / "R").exists()  # nothing at the real path until the first checkpoint
    run.publish()
    assert not run.is_staged and run.path == tmp_path / "R" and run.read_meta() == META
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]
    other = RunDir(tmp_path / "S")
    other.stage(META, None)
    other.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R"] and other.path == tmp_path / "S"


def test_stage_replaces_a_dead_processes_staging_folder_and_publishes_into_an_empty_dir(
    tmp_path: Path,
) -> None:
    (tmp_path / ".R.staging").mkdir()
    (tmp_path / ".R.staging" / "junk").write_text("left by a killed run")
    (tmp_path / "R").mkdir()  # made by the user for the run
    run = RunDir(tmp_path / "R")
    run.stage(META, None)
    assert sorted(p.name for p in run.path.iterdir()) == ["command.txt", "config.yaml"]
    run.publish()
    assert sorted(p.name for p in (tmp_path / "R").iterdir()) == ["command.txt", "config.yaml"]


def test_metrics_rows_ignore_an_unfinished_last_line(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.metrics.write_text("step,x\n100,1.5\n200,2.5\n30")  # a writer (or a killed one) mid-line
    assert [r["step"] for r in run.metrics_rows()] == ["100", "200"]
    assert run.metrics_columns() == ["step", "x"] and run.last_step() == 200
    run.metrics.write_text("ste")
    assert run.metrics_rows() == [] and run.metrics_columns() == []


def test_metrics_row_without_step_is_an_error_naming_the_line(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.metrics.write_text("step,x\n100,1.5\n,2.5\n")
    with pytest.raises(RlcvError, match="line 3 has no valid step"):
        run.metrics_rows()


def test_truncate_metrics_is_atomic_and_drops_the_partial_line(tmp_path: Path, monkeypatch) -> None:
    run = RunDir(tmp_path)
    run.metrics.write_text("step,x\n100,1\n200,2\n300,3\n40")
    run.truncate_metrics(200, ("step", "x"))
    assert run.metrics.read_text() == "step,x\n100,1\n200,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]

    # A kill between writing the new file and the rename leaves the old file whole.
    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("rlcv.run_dir.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run.truncate_metrics(100, ("step", "x"))
    assert run.metrics.read_text() == "step,x\n100,1\n200,2\n"


def test_read_meta_rejects_wrong_types(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    run.create({**META, "steps": "many"}, None)
    with pytest.raises(RlcvError, match="'steps' should be a int"):
        run.read_meta()
