"""The `rlcv` command end to end: run directories, determinism, eval, resume and bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from stable_baselines3.common.running_mean_std import RunningMeanStd

from rlcv import checkpoint
from rlcv.agents import agent_class
from rlcv.cli import main
from rlcv.config import build_config
from rlcv.logger import COMMON_METRICS, WALL_CLOCK_METRICS
from rlcv.loop import Trainer

ENV = "InvertedPendulum-v5"
FAST = ["--set", "n_steps=256", "batch_size=64", "n_epochs=2"]
FAST_TRPO = ["--set", "n_steps=256", "n_critic_updates=2"]


# ---------------------------------------------------------------------------- tiny test envs


class _DictActionEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Dict(
        {"a": gym.spaces.Discrete(2), "b": gym.spaces.Box(-1.0, 1.0, (1,), np.float32)}
    )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, True, False, {}


class _NanRewardEnv(gym.Env):
    """Finite rewards for the first ``nan_after`` steps of this instance, NaN afterwards."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, nan_after: int = 300) -> None:
        self.nan_after, self.total, self.t = nan_after, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.normal(size=3).astype(np.float32), {}

    def step(self, action):
        self.total += 1
        self.t += 1
        reward = float("nan") if self.total > self.nan_after else -float(np.sum(np.square(action)))
        return self.np_random.normal(size=3).astype(np.float32), reward, self.t >= 10, False, {}


DICT_ENV, NAN_ENV = "rlcvtest/DictAction-v0", "rlcvtest/NanReward-v0"
for _id, _entry in ((DICT_ENV, _DictActionEnv), (NAN_ENV, _NanRewardEnv)):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry)


# ---------------------------------------------------------------------------- helpers


def _train(
    run_dir: Path | str,
    *,
    algo: str = "ppo",
    steps: int = 512,
    seed: int = 1,
    env: str = ENV,
    extra: list[str] | None = None,
) -> int:
    fast = FAST if algo == "ppo" else FAST_TRPO
    return main(
        [
            "train",
            "--algo",
            algo,
            "--env",
            env,
            "--steps",
            str(steps),
            "--seed",
            str(seed),
            *fast,
            "--no-progress",
            "--run-dir",
            str(run_dir),
            *(extra or []),
        ]
    )


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _without_wall_clock(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in rows]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_same(a: Any, b: Any, path: str = "") -> None:
    """Exact, recursive equality of checkpoint contents (tensors, arrays, dicts, lists, scalars)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor | np.ndarray) or isinstance(b, torch.Tensor | np.ndarray):
        # Normaliser statistics round-trip numpy (0-d) arrays <-> tensors / Python floats: compare values.
        ta, tb = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)) for x in (a, b))
        assert ta.shape == tb.shape and torch.equal(ta, tb.to(ta.dtype)), f"{path}: {ta} != {tb}"
        assert ta.dtype == tb.dtype or not ta.is_floating_point() or ta.dim() == 0, path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("rlcv: error: "), err
    assert err.count("\n") == 1 and err.endswith("\n"), f"not a single line: {err!r}"
    return err


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A 512-step PPO run (two updates) on InvertedPendulum-v5 that tests copy, never modify."""
    run_dir = tmp_path_factory.mktemp("base") / "R"
    assert _train(run_dir) == 0
    return run_dir


def _copy(base: Path, dst: Path) -> Path:
    shutil.copytree(base, dst)
    return dst


# ---------------------------------------------------------------------------- run directory


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_train_writes_run_dir(algo: str, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("R", algo=algo) == 0
    assert "run directory: R" in capsys.readouterr().out
    run = tmp_path / "R"
    for name in ("config.yaml", "command.txt", "metrics.csv", "checkpoints/last.pt", "policy.pt"):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    meta = yaml.safe_load((run / "config.yaml").read_text())
    assert (meta["algo"], meta["env"], meta["steps"], meta["seed"]) == (algo, ENV, 512, 1)
    assert meta["config"]["n_steps"] == 256 and meta["config"]["gamma"] == 0.98  # --set and env preset
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert tuple(header[: len(COMMON_METRICS)]) == COMMON_METRICS
    assert header[:5] == ["step", "time_elapsed", "fps", "episodes", "episode_return_mean"]
    assert tuple(header[len(COMMON_METRICS) :]) == agent_class(algo).metric_names
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == [256, 512]
    assert all(float(r["episode_return_mean"]) > 0 and float(r["fps"]) > 0 for r in rows)
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == 512 and state["agent"]["updates"] == 2
    final = checkpoint.load(run / "policy.pt")
    assert final["algo"] == algo and final["env"] == ENV
    _assert_same(final["policy"], state["agent"]["policy"])
    assert not list(tmp_path.glob("runs"))  # nothing outside the run directory


def test_command_txt_records_the_command(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("R", steps=256) == 0
    assert "train --algo ppo --env InvertedPendulum-v5" in (tmp_path / "R" / "command.txt").read_text()


def test_same_seed_is_deterministic_other_seed_differs(tmp_path, monkeypatch, base_run) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("A", seed=1) == 0
    assert _train("B", seed=2) == 0
    same, other, base = _rows(tmp_path / "A"), _rows(tmp_path / "B"), _rows(base_run)
    assert _without_wall_clock(same) == _without_wall_clock(base)
    assert _without_wall_clock(other) != _without_wall_clock(base)
    assert [r["policy_loss"] for r in other] != [r["policy_loss"] for r in base]
    _assert_same(
        checkpoint.load(tmp_path / "A" / "checkpoints" / "last.pt"),
        checkpoint.load(base_run / "checkpoints" / "last.pt"),
    )


# ---------------------------------------------------------------------------- eval


def test_eval_json(base_run, capsys) -> None:
    capsys.readouterr()
    assert main(["eval", str(base_run), "--json", "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert set(result) == {"mean_return", "std_return", "episodes"}
    assert result["episodes"] == 2
    assert result["mean_return"] >= 1.0 and result["std_return"] >= 0.0
    # Deterministic: the same command gives the same numbers.
    assert main(["eval", str(base_run), "--json", "--episodes", "2"]) == 0
    assert json.loads(capsys.readouterr().out.strip()) == result


def test_eval_reads_runs_made_before_the_policy_pt_rename(tmp_path, base_run, capsys) -> None:
    """Runs written before the final policy file was renamed hold model.pt: `rlcv eval` still reads it."""
    old = _copy(base_run, tmp_path / "old")
    (old / "policy.pt").rename(old / "model.pt")
    capsys.readouterr()
    assert main(["eval", str(base_run), "--json", "--episodes", "2"]) == 0
    expected = json.loads(capsys.readouterr().out.strip())
    (old / "checkpoints" / "last.pt").unlink()  # the policy can come from model.pt only
    assert main(["eval", str(old), "--json", "--episodes", "2"]) == 0
    assert json.loads(capsys.readouterr().out.strip()) == expected


def test_eval_text_output(base_run, capsys) -> None:
    capsys.readouterr()
    assert main(["eval", str(base_run), "--episodes", "1"]) == 0
    assert "mean return" in capsys.readouterr().out


# ---------------------------------------------------------------------------- resume


def test_resume_continues_run(tmp_path, base_run) -> None:
    run = _copy(base_run, tmp_path / "R")
    assert main(["train", "--resume", str(run), "--steps", "1024", "--no-progress"]) == 0
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == [256, 512, 768, 1024]
    # The rows before the resume point are kept verbatim.
    assert rows[:2] == _rows(base_run)
    assert int(rows[2]["episodes"]) > int(rows[1]["episodes"])  # episode counter carried over
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == 1024 and state["agent"]["updates"] == 4
    assert yaml.safe_load((run / "config.yaml").read_text())["steps"] == 1024
    assert len((run / "command.txt").read_text().splitlines()) == 2  # appended, not overwritten


def test_resume_restores_trainer_state_exactly(base_run) -> None:
    saved = checkpoint.load(base_run / "checkpoints" / "last.pt")
    meta = yaml.safe_load((base_run / "config.yaml").read_text())
    config = build_config(agent_class(meta["algo"]).config_cls, meta["config"])
    torch.manual_seed(12345)  # the load must overwrite whatever RNG state the process had
    trainer = Trainer(algo=meta["algo"], env_id=meta["env"], config=config, seed=meta["seed"])
    try:
        torch.manual_seed(999)
        trainer.load_state_dict(saved)
        assert trainer.step == saved["step"] == 512
        _assert_same(trainer.agent.state_dict(), saved["agent"])  # policy, value fn, Adam moments, updates
        _assert_same(trainer.agent.policy.state_dict(), saved["agent"]["policy"])
        assert trainer.agent.optimizer.state_dict()["state"], "Adam state must be restored, not empty"
        assert torch.equal(torch.get_rng_state(), saved["torch_rng"])
        _assert_same(trainer.reward_scaler.state_dict(), saved["reward_scaler"])
        _assert_same(trainer.collector.state_dict(), saved["collector"])
        # load_state_dict starts fresh episodes (env state cannot be restored) and the normaliser
        # sees that reset observation, exactly as it sees every reset during training.
        rms = RunningMeanStd(shape=trainer.obs_normalizer.rms.mean.shape)
        rms.mean = saved["obs_normalizer"]["mean"].numpy().copy()
        rms.var = saved["obs_normalizer"]["var"].numpy().copy()
        rms.count = saved["obs_normalizer"]["count"]
        rms.update(trainer.collector._raw_obs)
        now = trainer.obs_normalizer.state_dict()
        np.testing.assert_array_equal(now["mean"], rms.mean)
        np.testing.assert_array_equal(now["var"], rms.var)
        assert now["count"] == rms.count == saved["obs_normalizer"]["count"] + config.n_envs
    finally:
        trainer.envs.close()


def test_resume_is_deterministic(tmp_path, base_run) -> None:
    a, b = _copy(base_run, tmp_path / "A"), _copy(base_run, tmp_path / "B")
    for run in (a, b):
        assert main(["train", "--resume", str(run), "--steps", "1024", "--no-progress"]) == 0
    assert _without_wall_clock(_rows(a)) == _without_wall_clock(_rows(b))
    _assert_same(
        checkpoint.load(a / "checkpoints" / "last.pt"), checkpoint.load(b / "checkpoints" / "last.pt")
    )


def test_resume_without_new_steps_is_a_no_op_on_metrics(tmp_path, base_run) -> None:  # finished: no-op
    run = _copy(base_run, tmp_path / "R")
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    assert _rows(run) == _rows(base_run)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "hints"),
    [
        (["--algo", "ppo", "--env", "HalfCheetah-v9"], ["HalfCheetah-v9", "Did you mean", "HalfCheetah-v5"]),
        (["--algo", "ppo", "--env", ENV, "--set", "lerning_rate=1"], ["lerning_rate", "learning_rate"]),
        (["--algo", "ppo2", "--env", ENV], ["ppo2", "Did you mean: ppo"]),
        (["--algo", "ppo", "--env", ENV, "--set", "n_steps=0"], ["n_steps"]),
        (["--algo", "ppo", "--env", ENV, "--set", "learning_rate"], ["key=value"]),
        (["--algo", "ppo", "--env", DICT_ENV], ["cannot handle the action space", "Dict", "wrapper"]),
        (["--algo", "trpo", "--env", DICT_ENV], ["trpo cannot handle the action space"]),
    ],
)
def test_bad_train_input(argv: list[str], hints: list[str], tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    rc = main(["train", *argv, "--steps", "512", "--no-progress", "--run-dir", "R"])
    assert rc == 2
    err = _error_line(capsys)
    for hint in hints:
        assert hint in err
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_missing_required_flags(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--algo", "ppo", "--env", ENV]) == 2
    assert "--steps" in _error_line(capsys)
    assert main(["train", "--algo", "ppo", "--env", ENV, "--steps", "0"]) == 2
    assert "--steps" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_existing_run_dir_is_not_clobbered(tmp_path, base_run, capsys) -> None:
    run = _copy(base_run, tmp_path / "R")
    before = _snapshot(run)
    assert _train(run, seed=5) == 2
    err = _error_line(capsys)
    assert "already exists" in err and "--resume" in err
    assert _snapshot(run) == before


def test_resume_of_a_finished_run_says_so_and_writes_nothing(tmp_path, base_run, capsys) -> None:
    run = _copy(base_run, tmp_path / "R")
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "already finished" in err and "nothing was written" in err and "--steps" in err
    assert _snapshot(run) == before


def test_resume_corrupt_checkpoint(tmp_path, base_run, capsys) -> None:
    run = _copy(base_run, tmp_path / "R")
    (run / "checkpoints" / "last.pt").write_bytes(b"this is not a checkpoint")
    (run / "policy.pt").unlink()  # killed after its last checkpoint: the resume loads last.pt
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert "corrupt" in err and "last.pt" in err
    assert _snapshot(run) == before


def test_resume_corrupt_checkpoint_with_steps_leaves_dir_untouched(tmp_path, base_run, capsys) -> None:
    run = _copy(base_run, tmp_path / "R")
    (run / "checkpoints" / "last.pt").write_bytes(b"this is not a checkpoint")
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), "--steps", "1024", "--no-progress"]) == 2
    assert "corrupt" in _error_line(capsys)
    assert _snapshot(run) == before


def test_resume_and_eval_of_missing_dir(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", "nope", "--no-progress"]) == 2
    assert "'nope' not found" in _error_line(capsys)
    assert main(["eval", "nope", "--episodes", "1"]) == 2
    err = _error_line(capsys)
    assert "'nope' not found" in err and "--run-dir" in err
    assert list(tmp_path.iterdir()) == []


def test_eval_of_dir_without_config(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["eval", str(tmp_path / "empty"), "--episodes", "1"]) == 2
    assert "not a run directory" in _error_line(capsys)


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_nan_reward_stops_names_the_env_and_keeps_previous_checkpoint(
    algo: str, tmp_path, monkeypatch, capsys
) -> None:
    """NaN rewards from env step 301 on: update 1 (steps 1-256) is fine, update 2 must fail cleanly,
    blaming the env (not a loss: issue 12, "say where the NaN came from")."""
    monkeypatch.chdir(tmp_path)
    assert _train("N", algo=algo, env=NAN_ENV, steps=1024, seed=3) == 2
    err = _error_line(capsys)
    assert f"the env {NAN_ENV} returned a non-finite reward in the rollout ending at step 512" in err
    assert "not the optimisation" in err
    run = tmp_path / "N"
    assert [int(r["step"]) for r in _rows(run)] == [256]
    assert not (run / "policy.pt").exists()
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == 256 and state["agent"]["updates"] == 1
    for tensor in state["agent"]["policy"].values():
        assert torch.isfinite(tensor).all()
    # It is exactly the checkpoint a clean run stopping after update 1 writes.
    assert _train("C", algo=algo, env=NAN_ENV, steps=256, seed=3) == 0
    _assert_same(state, checkpoint.load(tmp_path / "C" / "checkpoints" / "last.pt"))


def test_huge_learning_rate_fails_cleanly(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("R", extra=["--set", "learning_rate=1e30"]) == 2
    err = _error_line(capsys)
    assert "PPO loss became" in err and "learning_rate" in err


# ---------------------------------------------------------------------------- envs


def test_envs_lists_project_envs(capsys) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "rlcv/LQR-v0" in out.split()


# ------------------------------------------------------------ issue 12: resume rules, rlcv config

LQR_FAST = ["--set", "n_steps=200", "batch_size=50", "n_epochs=1", "checkpoint_freq=200", "--no-progress"]


def _lqr_run(run: Path, steps: int = 600) -> None:
    argv = ["train", "--algo", "ppo", "--env", "rlcv/LQR-v0", "--steps", str(steps), "--seed", "2"]
    assert main([*argv, *LQR_FAST, "--run-dir", str(run)]) == 0


def test_resume_applies_safe_keys_and_records_them(tmp_path: Path) -> None:
    run = tmp_path / "R"
    _lqr_run(run)
    argv = ["train", "--resume", str(run), "--steps", "1000", "--set", "learning_rate=1e-4", "ent_coef=0.01"]
    assert main([*argv, "--no-progress"]) == 0
    meta = yaml.safe_load((run / "config.yaml").read_text())
    assert meta["steps"] == 1000
    assert meta["config"]["learning_rate"] == 1e-4 and meta["config"]["ent_coef"] == 0.01
    assert meta["changes"] == [{"step": 600, "set": {"learning_rate": 1e-4, "ent_coef": 0.01}}]
    assert (run / "command.txt").read_text().splitlines()[-1].startswith(f"rlcv train --resume {run}")
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == 1000
    assert state["agent"]["optimizers"]["adam"]["param_groups"][0]["lr"] == 1e-4  # not the checkpoint's
    assert [int(r["step"]) for r in _rows(run)] == [200, 400, 600, 800, 1000]


def test_resume_from_an_earlier_checkpoint_drops_later_rows(tmp_path: Path, capsys) -> None:
    run = tmp_path / "R"
    _lqr_run(run)
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))[-1] == "step_000000600.pt"
    argv = ["train", "--resume", str(run), "--from", "step_200.pt", "--steps", "400", "--no-progress"]
    assert main(argv) == 0
    assert [int(r["step"]) for r in _rows(run)] == [200, 400]
    assert checkpoint.load(run / "checkpoints" / "last.pt")["step"] == 400
    # The old history's later step checkpoint is set aside, not mixed with the new one, not deleted.
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*.pt")) == [
        "step_000000200.pt",
        "step_000000400.pt",
    ]
    assert (run / "checkpoints" / "superseded" / "step_000000600.pt").is_file()
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 1


def test_config_command_lists_every_key_with_type_default_and_meaning(capsys) -> None:
    assert main(["config", "--algo", "mbmf-ppo", "--env", "rlcv/LQR-v0", "--set", "k=5"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(":")[0]: line for line in out.splitlines() if not line.startswith("#")}
    assert lines["k"].startswith("k: 5") and "# int | None, default None: imagined steps" in lines["k"]
    assert "# float: Adam step size" in lines["learning_rate"]
    assert {"eta", "model_lr", "n_envs", "estimator", "hidden_sizes"} <= set(lines)
    body = yaml.safe_load(out)  # the output is a valid --config file
    assert body["k"] == 5 and body["estimator"] == "mbmf"
    assert all(" # " in line for line in lines.values())


def test_unknown_key_error_points_to_rlcv_config(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert _train("X", extra=["--set", "learning_rat=1"]) == 2
    err = _error_line(capsys)
    assert "Did you mean: learning_rate" in err and f"`rlcv config --algo ppo --env {ENV}`" in err


def test_a_resume_that_cannot_write_command_txt_changes_nothing(tmp_path, base_run, capsys) -> None:
    """Issue 27: every check before the first change, so a failed resume leaves the run as it was."""
    run = _copy(base_run, tmp_path / "R")
    (run / "command.txt").unlink()
    (run / "command.txt").mkdir()
    before = _snapshot(run)
    config = (run / "config.yaml").read_bytes()
    assert main(["train", "--resume", str(run), "--steps", "1024", "--set", "learning_rate=1e-4"]) == 2
    assert "command.txt" in _error_line(capsys)
    assert _snapshot(run) == before and (run / "config.yaml").read_bytes() == config


def test_version_and_help_name_every_algorithm(capsys) -> None:
    from rlcv.agents import AGENTS, SB3_ALGOS

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("rlcv ")
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert ":class:" not in top and "``" not in top  # plain text, no docstring markup
    assert main(["train", "--help"]) == 0
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines at hyphens
    assert all(name in text for name in [*AGENTS, *SB3_ALGOS]) and "examples:" in text


def test_env_kwargs_read_numbers_as_set_does() -> None:
    from rlcv.cli_args import parse_env_kwargs

    assert parse_env_kwargs('{"noise_std": 1e-3, "sizes": [2E2], "name": "e5"}') == {
        "noise_std": 0.001,
        "sizes": [200.0],
        "name": "e5",
    }


def test_runs_without_run_dir_are_numbered(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    env = ["--env", "rlcv/LQR-v0", "--steps", "200", "--set", "n_steps=200", "--no-progress"]
    argv = ["train", "--algo", "ppo", *env]
    assert main(argv) == 0 and main(argv) == 0  # the same command twice: two runs, nothing refused
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ppo_rlcv-LQR-v0_1", "ppo_rlcv-LQR-v0_2"]
    assert "runs/ppo_rlcv-LQR-v0_2" in capsys.readouterr().out


def test_figure_paths_need_a_format_matplotlib_writes(tmp_path: Path, base_run, capsys) -> None:
    assert main(["plot", str(base_run), "--out", str(tmp_path / "p.xyz")]) == 2
    assert "cannot write '.xyz' files" in _error_line(capsys)
    assert main(["eval", str(base_run), "--episodes", "1", "--grid", str(tmp_path / "g.xyz")]) == 2
    assert "cannot write '.xyz' files" in _error_line(capsys)
    argv = ["plot", str(base_run), "--metric", "episode_return_mean", "--out", str(tmp_path / "p")]
    assert main(argv) == 0  # no suffix: .png added
    assert f"wrote {tmp_path / 'p.png'}" in capsys.readouterr().out and (tmp_path / "p.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"changes": 5}, "'changes' should be a list"),
        ({"config": {}}, "config mapping is empty"),
        ({"seed": -1}, "seed must be in [0, 2**32)"),
        ({"steps": -5}, "steps must be >= 1"),
    ],
)
def test_hand_edited_config_yaml_is_one_line(tmp_path: Path, base_run, capsys, edit, message) -> None:
    run = _copy(base_run, tmp_path / "R")
    meta = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**meta, **edit}, sort_keys=False))
    before = _snapshot(run)
    for argv in (["eval", str(run), "--episodes", "1"], ["train", "--resume", str(run), "--steps", "9999"]):
        assert main(argv) == 2
        err = _error_line(capsys)
        assert message in err and "damaged" in err, err
    assert _snapshot(run) == before


def test_video_of_a_classic_control_env(tmp_path: Path) -> None:
    """CartPole renders through pygame (gymnasium[classic-control]), headless."""
    run, videos = tmp_path / "cp", tmp_path / "videos"
    argv = ["train", "--algo", "ppo", "--env", "CartPole-v1", "--steps", "64", "--set", "n_steps=64"]
    assert main([*argv, "--run-dir", str(run), "--no-progress"]) == 0
    assert main(["eval", str(run), "--episodes", "1", "--video", str(videos)]) == 0
    assert [p.suffix for p in videos.iterdir()] == [".mp4"]


def test_a_full_disk_while_plotting_leaves_no_file(tmp_path: Path, base_run, monkeypatch, capsys) -> None:
    """Issue 27: `plot --out` / `eval --grid` / `bench ipg --json` left 0-byte files on a full disk."""
    import errno

    import matplotlib.figure

    def full(self, fname, *a, **k):
        Path(fname).write_bytes(b"")  # what a full disk leaves behind
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full)
    out = tmp_path / "p.png"
    argv = ["plot", str(base_run), "--metric", "episode_return_mean", "--out", str(out)]
    assert main(argv) == 2
    assert "No space left on device" in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_renamed_flag_still_works_with_one_deprecation_line(capsys) -> None:
    """Item 6 of issue 26: an inner-task network is a `--network`; `--model` still works, once warned."""
    import argparse

    from rlcv.cli_args import add_renamed_flag

    parser = argparse.ArgumentParser()
    add_renamed_flag(parser, "--network", "--model", dest="model", default="mlp", choices=["mlp", "cnn"])
    assert parser.parse_args([]).model == "mlp" and capsys.readouterr().err == ""
    assert parser.parse_args(["--network", "cnn"]).model == "cnn" and capsys.readouterr().err == ""
    assert parser.parse_args(["--model", "cnn"]).model == "cnn"
    assert capsys.readouterr().err == "rlcv: deprecated: --model is now --network; use that spelling.\n"
    assert "--model" not in parser.format_help()
    with pytest.raises(SystemExit):  # the old spelling keeps the new one's choices
        parser.parse_args(["--model", "resnet"])


def test_the_benches_take_the_inner_network_as_network(tmp_path, capsys) -> None:
    for bench in ("dualcutout", "sharpness"):
        out = tmp_path / bench
        assert main(["bench", bench, "--model", "mlp", "--report-only", "--out", str(out)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0] == "rlcv: deprecated: --model is now --network; use that spelling."
        assert len(err) == 2 and err[1].startswith("rlcv: error: --report-only")  # parsed, then no data
