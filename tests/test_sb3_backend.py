"""SB3 baselines through `rlcv train/eval`: same run-dir format, resume, eval cadence, errors.

Budgets are tiny (a few hundred InvertedPendulum steps); these tests check plumbing, not learning.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from rlcv import sb3_backend
from rlcv.cli import main
from rlcv.launch import resolve_config
from rlcv.logger import COMMON_METRICS, WALL_CLOCK_METRICS

ENV = "InvertedPendulum-v5"
TINY = {
    "sb3-ppo": ["n_steps=128", "batch_size=64", "n_epochs=1"],
    "sb3-trpo": ["n_steps=128", "batch_size=64", "n_critic_updates=1", "cg_max_steps=3"],
}


def _train(algo: str, run_dir: str, steps: int, *extra: str) -> int:
    return main(
        [
            "train",
            "--algo",
            algo,
            "--env",
            ENV,
            "--steps",
            str(steps),
            "--seed",
            "1",
            "--run-dir",
            run_dir,
            "--no-progress",
            "--set",
            *TINY[algo],
            *extra,
        ]
    )


def _rows(run_dir: Path) -> tuple[list[str], list[dict[str, str]]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _eval_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", "2", "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("algo", ["sb3-ppo", "sb3-trpo"])
def test_train_eval_resume(
    algo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert _train(algo, "run", 256) == 0
    for name in (
        "config.yaml",
        "command.txt",
        "metrics.csv",
        "model.zip",
        "vecnormalize.pt",
        "checkpoints/last.pt",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    meta = yaml.safe_load((run / "config.yaml").read_text())
    assert (meta["algo"], meta["env"], meta["steps"], meta["seed"]) == (algo, ENV, 256, 1)
    assert meta["config"]["n_steps"] == 128 and meta["config"]["gamma"] == 0.98  # InvertedPendulum preset
    header, rows = _rows(run)
    assert tuple(header[: len(COMMON_METRICS)]) == COMMON_METRICS
    assert set(sb3_backend.ALGOS[algo].metrics) <= set(header)
    assert [int(r["step"]) for r in rows] == [128, 256]
    assert all(r["episode_return_mean"] and r["policy_loss"] and r["value_loss"] for r in rows)
    assert int(rows[1]["episodes"]) > int(rows[0]["episodes"]) > 0

    result = _eval_json(run, capsys)
    assert result["episodes"] == 2 and result["mean_return"] > 0 and result["std_return"] >= 0
    assert result == _eval_json(run, capsys)  # deterministic actions, seeded episodes

    assert main(["train", "--resume", "run", "--steps", "512", "--no-progress"]) == 0
    _, rows = _rows(run)
    assert [int(r["step"]) for r in rows] == [128, 256, 384, 512]
    assert int(rows[2]["episodes"]) > int(rows[1]["episodes"])
    assert yaml.safe_load((run / "config.yaml").read_text())["steps"] == 512
    assert len((run / "command.txt").read_text().splitlines()) == 2


def test_eval_freq_counts_env_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 2 envs an update is 256 env steps: eval_freq=512 evaluates every second update."""
    monkeypatch.chdir(tmp_path)
    assert (
        _train(
            "sb3-ppo",
            "run",
            1024,
            "checkpoint_freq=512",
            "--n-envs",
            "2",
            "--eval-freq",
            "512",
            "--eval-episodes",
            "2",
        )
        == 0
    )
    _, rows = _rows(tmp_path / "run")
    assert [int(r["step"]) for r in rows] == [256, 512, 768, 1024]
    assert [bool(r["eval_return_mean"]) for r in rows] == [False, True, False, True]
    assert all(float(r["eval_return_std"]) >= 0 for r in rows if r["eval_return_mean"])
    saved = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert saved == ["last.pt", "step_000000512.pt", "step_000001024.pt"]


def test_seeded_runs_are_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("sb3-ppo", "a", 256) == 0 and _train("sb3-ppo", "b", 256) == 0
    (_, rows_a), (_, rows_b) = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    strip = [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in rows_a + rows_b]
    assert strip[:2] == strip[2:]


def test_bad_input_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("sb3-ppo", "run", 256, "n_step=64") == 2
    assert "unknown config key 'n_step'" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--algo",
                "sb3-trpo",
                "--env",
                "InvertedPendulumm-v5",
                "--steps",
                "64",
                "--run-dir",
                "run",
            ]
        )
        == 2
    )
    assert "unknown environment id" in capsys.readouterr().err
    # SB3 refuses unbounded Box actions (rlcv/LQR-v0): a one-line error before anything is written.
    assert (
        main(["train", "--algo", "sb3-ppo", "--env", "rlcv/LQR-v0", "--steps", "64", "--run-dir", "run"]) == 2
    )
    assert "sb3-ppo cannot run with this env/config" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_damaged_files_give_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("sb3-ppo", "run", 128) == 0
    assert _train("sb3-ppo", "run", 128) == 2  # never overwrites an existing run
    assert "--resume" in capsys.readouterr().err
    (tmp_path / "run" / "model.zip").write_bytes(b"not a zip")
    assert main(["eval", "run"]) == 2
    err = capsys.readouterr().err
    assert "cannot load the SB3 algorithm" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "run" / "model.zip").unlink()
    assert main(["eval", "run", "--episodes", "1"]) == 0  # a run killed before the end: last checkpoint
    shutil.copy(tmp_path / "run" / "vecnormalize.pt", tmp_path / "run" / "checkpoints" / "last.pt")
    assert main(["train", "--resume", "run", "--steps", "256", "--no-progress"]) == 2
    assert "not an sb3-ppo checkpoint" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoints" / "last.pt").write_bytes(b"garbage")
    assert main(["eval", "run"]) == 2
    assert "corrupt" in capsys.readouterr().err


@pytest.mark.parametrize("algo", ["sb3-ppo", "sb3-trpo"])
def test_same_config_and_preset_as_rlcv_agent(algo: str) -> None:
    """`--set key=v` means the same for ppo and sb3-ppo, and every shared key reaches SB3 unchanged."""
    base = sb3_backend.ALGOS[algo].base
    overrides = {
        "n_steps": 96,
        "batch_size": 32,
        "gae_lambda": 0.8,
        "hidden_sizes": [16, 8],
        "activation": "relu",
        "log_std_init": -0.5,
    }
    config = resolve_config(algo, ENV, None, overrides)
    assert dataclasses.asdict(config) == dataclasses.asdict(resolve_config(base, ENV, None, overrides))
    venv, algorithm = sb3_backend._build(algo, ENV, config, seed=0)
    venv.close()
    for key in sb3_backend.ALGOS[algo].keys:
        value = getattr(algorithm, key)
        assert (value(1.0) if callable(value) else value) == getattr(config, key), key
    layers = algorithm.policy.mlp_extractor.policy_net
    assert [m.out_features for m in layers if isinstance(m, torch.nn.Linear)] == [16, 8]
    assert all(isinstance(m, torch.nn.ReLU) for m in layers if not isinstance(m, torch.nn.Linear))
    assert algorithm.policy.log_std.detach().tolist() == pytest.approx([-0.5])
