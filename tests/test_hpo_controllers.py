"""HPO controllers through the agent loop (`rlcv train`) and their update rules."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rlcv.agents.hpo.bandits import DTSPolicy, UCB1Config, UCB1Policy
from rlcv.agents.hpo.hypergradient import ForwardConfig, ForwardPolicy, HDConfig, HDPolicy
from rlcv.agents.hpo.pbt import PBTConfig
from rlcv.cli import main
from rlcv.config import build_config
from rlcv.envs.online_hpo import OBS, OBS_FIELDS, OnlineHPOEnv
from rlcv.logger import WALL_CLOCK_METRICS
from rlcv.loop import Trainer as Session

ENV = "rlcv/OnlineHPO-v0"
TINY = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
EPISODE = TINY["budget"] // TINY["steps_per_action"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train(
    tmp_path: Path,
    algo: str,
    *,
    steps: int,
    seed: int = 0,
    name: str = "run",
    extra: list[str] = (),
    env_kwargs: dict | None = None,
) -> tuple[int, Path, Path]:
    log = tmp_path / f"{name}.jsonl"
    run = tmp_path / name
    kwargs = json.dumps({**TINY, **(env_kwargs or {}), "episode_log": str(log)})
    code = main(
        [
            "train",
            "--algo",
            algo,
            "--env",
            ENV,
            "--steps",
            str(steps),
            "--seed",
            str(seed),
            "--run-dir",
            str(run),
            "--no-progress",
            "--env-kwargs",
            kwargs,
            *extra,
        ]
    )
    return code, run, log


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "algo,population,extra",
    [
        ("hpo-ucb1", 1, []),
        ("hpo-dts", 1, []),
        ("hpo-hd", 1, []),
        ("hpo-forward", 1, []),
        ("hpo-pbt", 4, ["--set", "n_steps=2"]),
        ("ppo", 1, ["--set", "n_steps=4", "batch_size=4", "n_epochs=1"]),
    ],
)
def test_controller_runs_an_inner_run_through_the_loop(tmp_path, algo, population, extra) -> None:
    code, run, log = _train(tmp_path, algo, steps=EPISODE * population, extra=extra)
    assert code == 0
    records = _records(log)
    assert len(records) == population
    assert all(r["steps_done"] == TINY["budget"] and 0 <= r["test_accuracy"] <= 1 for r in records)
    rows = _metrics(run)
    assert rows and (run / "policy.pt").is_file() and (run / "checkpoints" / "last.pt").is_file()
    if algo != "ppo":
        assert math.isfinite(float(rows[-1]["hp_lr"])) and float(rows[-1]["val_loss"]) > 0
    if algo == "hpo-forward":
        config = yaml.safe_load((run / "config.yaml").read_text())["config"]
        assert config["env_kwargs"]["hypergradient"] == "forward"
    if algo == "hpo-pbt":
        assert float(rows[0]["pbt_exploits"]) == 1.0  # one of four members copied after the first round


def test_controller_runs_are_deterministic_with_a_seed(tmp_path) -> None:
    outs = []
    for name in ("a", "b"):
        code, run, log = _train(tmp_path, "hpo-dts", steps=2 * EPISODE, seed=3, name=name)
        assert code == 0
        rows = [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in _metrics(run)]
        outs.append((rows, _without_wall_clock(_records(log))))
    assert outs[0] == outs[1]
    code, _, log = _train(tmp_path, "hpo-dts", steps=2 * EPISODE, seed=4, name="c")
    assert _without_wall_clock(_records(log)) != outs[0][1]


def _without_wall_clock(records: list[dict]) -> list[dict]:
    """Episode records minus the wall-clock compute (``compute_s`` and its curve column)."""
    from rlcv.envs.online_hpo import CURVE_COLUMNS

    wall = CURVE_COLUMNS.index("compute_s")
    return [
        {
            **{k: v for k, v in r.items() if k not in ("compute_s", "curve")},
            "curve": [row[:wall] + row[wall + 1 :] for row in r["curve"]],
        }
        for r in records
    ]


def test_controller_resumes_from_its_checkpoint(tmp_path) -> None:
    code, run, _ = _train(tmp_path, "hpo-ucb1", steps=3)
    assert code == 0
    assert main(["train", "--resume", str(run), "--steps", "6", "--no-progress"]) == 0
    assert [int(r["step"]) for r in _metrics(run)] == [1, 2, 3, 4, 5, 6]


def test_diverging_inner_runs_never_crash_the_loop(tmp_path) -> None:
    blowup = {"lr_init": 1e3, "lr_range": [1.0, 1e4]}
    for algo, extra in (("ppo", ["--set", "n_steps=8", "batch_size=8", "n_epochs=1"]), ("hpo-hd", [])):
        code, run, log = _train(tmp_path, algo, steps=8, name=algo, env_kwargs=blowup, extra=extra)
        assert code == 0
        records = _records(log)
        assert records and all(r["diverged"] for r in records)
        assert float(_metrics(run)[-1]["episode_return_mean"]) == pytest.approx(-10.0)


def test_controller_on_another_env_is_a_clear_error(tmp_path, capsys) -> None:
    code = main(
        [
            "train",
            "--algo",
            "hpo-ucb1",
            "--env",
            "rlcv/LQR-v0",
            "--steps",
            "10",
            "--run-dir",
            str(tmp_path / "r"),
            "--no-progress",
        ]
    )
    assert code == 2 and "Use --env rlcv/OnlineHPO-v0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------ update rules


def _obs(**fields: float) -> torch.Tensor:
    obs = torch.zeros(1, len(OBS_FIELDS))
    for name, value in fields.items():
        obs[0, OBS[name]] = value
    return obs


def _space(max_factor: float = 2.0):
    return OnlineHPOEnv(**TINY, max_factor=max_factor).action_space


def test_hd_rule_is_lr_plus_beta_times_gradient_product() -> None:
    policy = HDPolicy(_space(), build_config(HDConfig, {"beta": 1e-3}))
    action = policy.mode(_obs(log10_lr=-1.0, hd_signal=10.0))
    assert action[0, 0].item() == pytest.approx(math.log2(0.11 / 0.1), rel=1e-5)  # 0.1 + 1e-3 · 10
    assert action[0, 1:].abs().max() == 0
    shrink = policy.mode(_obs(log10_lr=-1.0, hd_signal=-1e4))  # η would go negative: smallest multiplier
    assert shrink[0, 0].item() == pytest.approx(-1.0)


def test_forward_rule_steps_log_hyperparameters_against_the_hypergradient() -> None:
    policy = ForwardPolicy(_space(max_factor=8.0), build_config(ForwardConfig, {"beta": 0.5}))
    action = policy.mode(_obs(hypergrad_log_lr=-0.4, hypergrad_log_weight_decay=0.2))
    assert action[0].tolist() == pytest.approx([0.2 / math.log(2), 0.0, -0.1 / math.log(2)], rel=1e-6)
    big = policy.mode(_obs(hypergrad_log_lr=-100.0))
    assert big[0, 0].item() == pytest.approx(3.0)  # clipped to log2(max_factor)


def test_ucb1_plays_every_arm_then_the_best_and_restarts_each_episode() -> None:
    config = build_config(UCB1Config, {"controlled": ["lr"], "exploration": 0.0})
    policy = UCB1Policy(_space(), config, "hpo-ucb1")
    obs = _obs()
    played = []
    for reward in (0.1, 0.5, 0.2):  # arms ×0.5, ×1, ×2 in turn
        action = policy.sample(obs).action[0, 0]
        played.append(action[0].item())
        policy.observe(policy.arm_of(action), reward)
    assert played == [-1.0, 0.0, 1.0]
    assert policy.sample(obs).action[0, 0, 0].item() == 0.0  # greedy on the means: ×1
    policy.reset_statistics()
    assert policy.counts.sum() == 0 and policy.sample(obs).action[0, 0, 0].item() == -1.0


def test_dts_discounts_old_rewards() -> None:
    from rlcv.agents.hpo.bandits import DTSConfig

    policy = DTSPolicy(_space(), build_config(DTSConfig, {"controlled": ["lr"], "discount": 0.5}), "hpo-dts")
    arm_up = policy.arm_of(torch.tensor([1.0, 0.0, 0.0]))
    policy.observe(arm_up, 1.0)
    for _ in range(5):
        policy.observe(policy.arm_of(torch.tensor([-1.0, 0.0, 0.0])), 0.1)
    assert policy.counts[0, 2].item() == pytest.approx(0.5**5)
    assert policy.mode(_obs())[0, 0].item() == -1.0  # the recent arm wins on the (discounted) mean


def test_pbt_round_copies_the_best_member_into_the_worst() -> None:
    config = build_config(PBTConfig, {"env_kwargs": dict(TINY), "n_steps": 2})
    session = Session(algo="hpo-pbt", env_id=ENV, config=config, seed=0)
    try:
        session.reset_envs(0)
        batch = session.collector.collect(config.n_steps)
        before = session.envs.get_attr("member_state")
        metrics = session.agent.update(batch)
        after = session.envs.get_attr("member_state")
    finally:
        session.envs.close()
    order = sorted(range(4), key=lambda i: before[i]["val_loss"])
    best, worst = order[0], order[-1]
    assert metrics["pbt_exploits"] == 1.0 and metrics["pbt_best_val_loss"] == before[best]["val_loss"]
    assert torch.equal(after[worst]["theta"], before[best]["theta"])
    ranges = OnlineHPOEnv(**TINY).ranges
    for name in ("lr", "batch_size", "weight_decay"):
        ratio = after[worst][name] / before[best][name]
        assert any(np.isclose(ratio, f) for f in (0.8, 1.2)) or after[worst][name] in ranges[name]
    for i in order[:-1]:
        assert torch.equal(after[i]["theta"], before[i]["theta"]) and after[i]["lr"] == before[i]["lr"]


def test_eval_builds_the_controllers_own_policy(tmp_path, capsys) -> None:
    run = tmp_path / "R"
    assert (
        main(
            [
                "train",
                "--algo",
                "hpo-ucb1",
                "--env",
                "rlcv/OnlineHPO-v0",
                "--steps",
                "60",
                "--run-dir",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 1 and math.isfinite(result["mean_return"])


def test_eval_of_an_hpo_run_reports_the_inner_tasks_test_accuracy(tmp_path: Path, capsys) -> None:
    """Issue 27: `rlcv eval` of a controller shows what the user tuned for, not only the return."""
    code, run, _ = _train(tmp_path, "hpo-dts", steps=EPISODE, seed=1)
    assert code == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "2", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert "val_accuracy" in metrics and "r" not in metrics
