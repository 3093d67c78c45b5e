"""The Python API (rlcv.Agent, rlcv.load) against the CLI: same run directories, same metrics, same
policy; runs made by either open in the other. Tiny runs (two 128-step updates on rlcv/LQR-v0)."""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

import rlcv
from rlcv import checkpoint
from rlcv.api import Agent
from rlcv.cli import main
from rlcv.errors import RlcvError
from rlcv.logger import WALL_CLOCK_METRICS

ROOT = Path(__file__).resolve().parents[1]
ENV = "rlcv/LQR-v0"
# normalize_obs on, so that predict() must apply the run's saved normaliser to match `rlcv eval`.
TINY = {"n_steps": 128, "batch_size": 64, "n_epochs": 1, "normalize_obs": True}
TINY_SET = ["--set", "n_steps=128", "batch_size=64", "n_epochs=1", "normalize_obs=true"]


def _cli_train(run_dir: Path | str, steps: int = 256, seed: int = 1) -> None:
    argv = ["train", "--algo", "ppo", "--env", ENV, "--steps", str(steps), "--seed", str(seed), *TINY_SET]
    assert main([*argv, "--no-progress", "--run-dir", str(run_dir)]) == 0


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in csv.DictReader(f)]


def _eval_json(run_dir: Path, capsys: pytest.CaptureFixture[str], episodes: int = 3) -> dict:
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--episodes", str(episodes), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _play(agent: Agent, env_id: str, episodes: int, seed: int = 0) -> list[float]:
    """`rlcv eval`'s episodes (episode i reset with seed + i), acting with agent.predict."""
    env = gym.make(env_id)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            action, state = agent.predict(obs, deterministic=True)
            assert state is None
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def _tensors_equal(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run made by `rlcv train` that tests copy or read, never modify."""
    run = tmp_path_factory.mktemp("cli") / "R"
    _cli_train(run)
    return run


def test_cli_run_loads_and_plays_what_rlcv_eval_plays(
    cli_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = rlcv.load(cli_run)
    assert (agent.algo, agent.env_id, agent.seed, agent.num_timesteps) == ("ppo", ENV, 1, 256)
    assert agent.config["normalize_obs"] is True and agent.run_dir == cli_run
    expected = _eval_json(cli_run, capsys)
    returns = _play(agent, ENV, episodes=3)
    assert float(np.mean(returns)) == expected["mean_return"]
    assert float(np.std(returns)) == expected["std_return"]
    assert agent.evaluate(episodes=3) == expected
    # A batch gives the rows' single-observation actions (to rounding: a batched matmul sums in
    # another order); a stochastic action differs from the mode.
    obs = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    batch, _ = agent.predict(obs, deterministic=True)
    assert batch.shape == (4, 1)
    for row, action in zip(obs, batch, strict=True):
        np.testing.assert_allclose(agent.predict(row, deterministic=True)[0], action, rtol=1e-5, atol=1e-7)
    assert agent.predict(obs)[0].shape == (4, 1) and not np.array_equal(agent.predict(obs)[0], batch)
    # Its policy file, its model.zip-style file path, and rlcv.Agent.load open the same run.
    assert rlcv.Agent.load(cli_run / "policy.pt").run_dir == cli_run


def test_api_run_is_the_cli_run_and_command_txt_replays_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """learn() twice writes the run `rlcv train` then `rlcv train --resume` write with the same
    arguments: config.yaml, metrics.csv (but wall clock), checkpoints' policies; command.txt holds
    those CLI commands, and replaying them elsewhere gives that run again."""
    monkeypatch.chdir(tmp_path)
    agent = rlcv.Agent("ppo", ENV, seed=3, **TINY)
    assert agent.run_dir is None and not Path("runs").exists()  # nothing written before learn()
    assert agent.learn(128) is agent
    api = Path("runs/ppo_rlcv-LQR-v0_1")  # the CLI's default run directory
    assert agent.run_dir == api.absolute() and agent.num_timesteps == 128
    agent.learn(100)  # 100 more: target 228, reached by the second 128-step update
    assert agent.num_timesteps == 256

    lines = (api / "command.txt").read_text().splitlines()
    assert lines == [
        "rlcv train --algo ppo --env rlcv/LQR-v0 --steps 128 --seed 3 --set n_steps=128 batch_size=64 "
        "n_epochs=1 normalize_obs=true",
        f"rlcv train --resume {api.absolute()} --steps 228",
    ]
    cli = tmp_path / "cli"
    first, second = (shlex.split(line)[1:] for line in lines)
    assert main([*first, "--run-dir", str(cli), "--no-progress"]) == 0
    assert main([a.replace(str(api.absolute()), str(cli)) for a in second] + ["--no-progress"]) == 0

    assert yaml.safe_load((api / "config.yaml").read_text()) == yaml.safe_load(
        (cli / "config.yaml").read_text()
    )
    assert _rows(api) == _rows(cli) and len(_rows(api)) == 2
    for name in ("policy.pt", "checkpoints/last.pt"):
        a, c = checkpoint.load(api / name), checkpoint.load(cli / name)
        policy_a = a["policy"] if "policy" in a else a["agent"]["policy"]
        policy_c = c["policy"] if "policy" in c else c["agent"]["policy"]
        assert _tensors_equal(policy_a, policy_c), name


def test_save_load_round_trip(cli_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    agent = rlcv.load(cli_run)
    saved = agent.save(tmp_path / "sub" / "copy")
    assert saved == tmp_path / "sub" / "copy" and agent.run_dir == cli_run  # the agent keeps its run
    files = sorted(p.relative_to(cli_run) for p in cli_run.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(saved) for p in saved.rglob("*") if p.is_file())
    assert not list((tmp_path / "sub").glob(".*"))  # no staging folder left
    assert _eval_json(saved, capsys) == _eval_json(cli_run, capsys)
    copy = rlcv.load(saved)
    obs = np.linspace(-1, 1, 2, dtype=np.float32)
    assert np.array_equal(copy.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0])
    # The CLI resumes the copy, and the agent opened on it sees the new steps (its cached policy is
    # re-read after learn()).
    assert main(["train", "--resume", str(saved), "--steps", "384", "--no-progress"]) == 0
    copy.learn(128)
    assert copy.num_timesteps == 512 and len(_rows(saved)) == 4 and _rows(cli_run) == _rows(saved)[:2]
    assert not np.array_equal(
        copy.predict(obs, deterministic=True)[0], agent.predict(obs, deterministic=True)[0]
    )
    # Never over an existing run; saving onto itself is a no-op.
    with pytest.raises(RlcvError, match="already exists"):
        agent.save(saved)
    assert agent.save(cli_run) == cli_run


def _one_line(exc: pytest.ExceptionInfo[RlcvError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_bad_input_is_one_line_and_writes_nothing(
    cli_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RlcvError) as exc:
        rlcv.Agent("ppo", ENV, n_step=128)
    assert "unknown config key 'n_step'" in _one_line(exc) and "n_steps" in str(exc.value)
    cases: list[tuple[dict, str]] = [
        ({"algo": "ppoo", "env": ENV}, "unknown algorithm 'ppoo'"),
        ({"algo": "ppo", "env": "rlcv/LQR-v9"}, "LQR-v9"),
        ({"algo": "ppo", "env": ENV, "seed": -1}, "seed"),
        ({"algo": "ppo", "env": ENV, "seed": 1.5}, "seed"),
        ({"algo": "ppo", "env": ENV, "n_steps": "many"}, "n_steps"),
        ({"algo": "ppo", "env": ENV, "run_dir": cli_run}, "already exists"),
    ]
    for kwargs, words in cases:
        with pytest.raises(RlcvError) as exc:
            rlcv.Agent(kwargs.pop("algo"), kwargs.pop("env"), **kwargs)
        assert words in _one_line(exc), kwargs
    agent = rlcv.Agent("ppo", ENV, **TINY)
    for call, words in (
        (lambda: agent.learn(0), "learn()"),
        (lambda: agent.predict(np.zeros(2)), "call learn() first"),
        (lambda: agent.save("copy"), "call learn() first"),
        (lambda: rlcv.load(cli_run).predict(np.zeros(3)), "expected (2,)"),
        (lambda: rlcv.load(tmp_path / "nope"), "not found"),
    ):
        with pytest.raises(RlcvError) as exc:
            call()
        assert words in _one_line(exc)
    assert list(tmp_path.iterdir()) == []


def test_sb3_backend_through_the_same_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    agent = rlcv.Agent(
        "sb3-ppo", "InvertedPendulum-v5", seed=1, run_dir="sb3", n_steps=64, batch_size=64, n_epochs=1
    )
    agent.learn(64).learn(64)
    assert agent.num_timesteps == 128 and (tmp_path / "sb3" / "model.zip").is_file()
    expected = _eval_json(tmp_path / "sb3", capsys, episodes=2)
    assert agent.evaluate(episodes=2) == expected
    assert (
        float(np.mean(_play(rlcv.load("sb3/model.zip"), "InvertedPendulum-v5", episodes=2)))
        == expected["mean_return"]
    )
    assert agent.predict(np.zeros((3, 4)), deterministic=True)[0].shape == (3, 1)


def test_import_rlcv_stays_cheap() -> None:
    """`import rlcv` registers envs but imports no torch; rlcv.Agent is imported on first use."""
    code = "import sys, rlcv; assert 'torch' not in sys.modules; rlcv.Agent; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _python_blocks(page: str, heading: str) -> list[str]:
    text = "\n" + (ROOT / page).read_text()
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's example, verbatim, then the API page's resume / copy block, with every Agent shrunk
    to tiny updates and learn() to 64 steps."""
    (readme,) = _python_blocks("README.md", "## Python API")
    page = _python_blocks("docs/api.md", "# Python API")
    assert page[0] == readme and len(page) == 2, "docs/api.md shows the README's block, then one more"
    monkeypatch.chdir(tmp_path)
    tiny = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "model_train_steps": 2, "model_ensemble_size": 2}
    init, learn = Agent.__init__, Agent.learn
    learned: list[int] = []

    def small_init(self: Agent, algo: str, env: str, **kwargs: object) -> None:
        init(self, algo, env, **{**kwargs, **tiny})

    def short_learn(self: Agent, total_timesteps: int, **kwargs: bool) -> Agent:
        learned.append(total_timesteps)
        return learn(self, 64, **kwargs)

    monkeypatch.setattr(Agent, "__init__", small_init)
    monkeypatch.setattr(Agent, "learn", short_learn)
    for name, block in (("README.md", readme), ("docs/api.md", page[1])):
        exec(compile(block, f"{name} (Python API)", "exec"), {"__name__": "api_example"})
    assert learned == [30_000, 10_000]
    assert (tmp_path / "runs" / "api-demo" / "policy.pt").is_file()
    assert (tmp_path / "runs" / "api-demo-copy" / "policy.pt").is_file()
