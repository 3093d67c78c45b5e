"""The oracle ceiling: the ``ppo-oracle`` agent (PPO whose policy gradient averages over
``oracle_ratio = r``× samples, the extra ones uncounted), its old spelling ``--algo ppo --set
oracle_ratio=r``, and `rlcv bench oracle` (per-run summaries, skip-on-resume, paired speed-ups)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from rlcv.bench import oracle
from rlcv.diagnostics.learning_runs import speedups_over_base
from rlcv.errors import RlcvError
from rlcv.launch import resolve, resolve_config
from rlcv.legacy import upgrade_train_args
from rlcv.loop import Trainer
from rlcv.plotting import SeedCurve
from rlcv.run_dir import RunDir

ENV = "InvertedPendulum-v5"
SMALL = {"n_steps": 64, "batch_size": 32, "n_epochs": 2}


def _trainer(algo: str = "ppo-oracle", **overrides: Any) -> Trainer:
    config = resolve_config(algo, ENV, None, {**SMALL, **overrides})
    trainer = Trainer(algo=algo, env_id=ENV, config=config, seed=3)
    trainer.reset_envs(3)
    return trainer


def _close(trainer: Trainer) -> None:
    trainer.envs.close()
    for extra in trainer.uncounted:
        extra.collector.envs.close()


def _updates(n: int, algo: str = "ppo-oracle", **overrides: Any) -> tuple[Trainer, list[dict[str, float]]]:
    """A fresh trainer (it seeds the global torch RNG) and its first ``n`` update metrics."""
    trainer = _trainer(algo, **overrides)
    try:
        metrics = [trainer.agent.update(trainer.collector.collect(trainer.agent.n_steps)) for _ in range(n)]
    finally:
        _close(trainer)
    return trainer, metrics


def test_ratio_one_is_plain_ppo_and_asks_for_no_uncounted_envs(one_torch_thread: None) -> None:
    (_, a), (one, b), (two, c) = _updates(2, "ppo"), _updates(2, oracle_ratio=1), _updates(2, oracle_ratio=2)
    assert one.uncounted == [] and one.agent.extra is None  # type: ignore[attr-defined]
    assert len(two.uncounted) == 1 and two.agent.extra is two.uncounted[0]  # type: ignore[attr-defined]
    assert a == b  # exactly, every metric of every update
    assert c[0]["value_loss"] != a[0]["value_loss"] or c[0]["policy_loss"] != a[0]["policy_loss"]


def _rows(x: torch.Tensor) -> list[tuple[float, ...]]:
    return [tuple(r) for r in x.tolist()]


def test_minibatches_hold_counted_then_extra_samples_and_the_critic_sees_counted_only(
    one_torch_thread: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = 3
    trainer = _trainer(oracle_ratio=r)
    agent = trainer.agent
    assert agent.extra is not None  # type: ignore[attr-defined]
    inner = agent.extra.collector  # type: ignore[attr-defined]
    extra_batches: list[Any] = []
    collect, log_prob = inner.collect, agent.policy.log_prob
    policy_obs: list[torch.Tensor] = []
    critic_sizes: list[int] = []

    def spy_collect(n: int) -> Any:
        extra_batches.append(collect(n))
        return extra_batches[-1]

    def spy_log_prob(obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        policy_obs.append(obs.detach().clone())
        return log_prob(obs, actions)

    def spy_critic(module: Any, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if torch.is_grad_enabled():  # the value loss (the estimator's V(s) runs under no_grad)
            critic_sizes.append(inputs[0].shape[0])

    monkeypatch.setattr(inner, "collect", spy_collect)
    monkeypatch.setattr(agent.policy, "log_prob", spy_log_prob)
    agent.value_fn.register_forward_hook(spy_critic)  # type: ignore[attr-defined]
    norm_count = trainer.obs_normalizer.rms.count
    try:
        batch = trainer.collector.collect(64)
        assert trainer.obs_normalizer.rms.count > norm_count
        norm_count = trainer.obs_normalizer.rms.count
        scaler_var = trainer.reward_scaler.rms.var
        agent.update(batch)
        # the extra rollout: same length, (r − 1)× the envs; normaliser statistics untouched
        (extra,) = extra_batches
        assert extra.obs.shape[:2] == (64, (r - 1) * trainer.config.n_envs)
        assert trainer.obs_normalizer.rms.count == norm_count
        assert trainer.reward_scaler.rms.var == scaler_var
    finally:
        _close(trainer)

    counted = {row: i for i, row in enumerate(_rows(batch.obs.reshape(64, -1)))}
    extras = {row: i for i, row in enumerate(_rows(extra.obs.reshape(-1, extra.obs.shape[-1])))}
    assert len(counted) == 64 and len(extras) == 64 * (r - 1)
    # n_epochs × (64 / 32) minibatches, each 32 counted + (r − 1)·32 extra samples
    assert [len(o) for o in policy_obs] == [32 * r] * 4
    for epoch in range(2):
        seen_counted, seen_extra = [], []
        for o in policy_obs[2 * epoch : 2 * epoch + 2]:
            rows = _rows(o)
            seen_counted += [counted[x] for x in rows[:32]]
            seen_extra += [extras[x] for x in rows[32:]]
        assert sorted(seen_counted) == list(range(64))  # every counted sample once per epoch
        assert sorted(seen_extra) == list(range(64 * (r - 1)))  # and every extra one
    assert critic_sizes == [32] * 4  # value loss on counted samples only


def test_steps_and_episodes_count_only_the_counted_envs(tmp_path: Path, one_torch_thread: None) -> None:
    trainer = _trainer(oracle_ratio=2)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    trainer.train(run, total_steps=128, progress=False)
    assert trainer.uncounted[0].collector.episodes > 0
    steps = [int(row["step"]) for row in run.metrics_rows()]
    episodes = [int(row["episodes"]) for row in run.metrics_rows()]
    assert steps == [64, 128] and trainer.step == 128
    assert episodes[-1] == trainer.collector.episodes


def test_bad_oracle_ratio_is_one_config_error() -> None:
    with pytest.raises(RlcvError, match="oracle_ratio must be an integer >= 1"):
        resolve_config("ppo-oracle", ENV, None, {"oracle_ratio": 0})
    with pytest.raises(RlcvError, match="oracle_ratio > 1 needs estimator 'gae'"):
        resolve_config("ppo-oracle", ENV, None, {"oracle_ratio": 2, "estimator": "mbmf"})
    for algo in ("mbmf-ppo", "sb3-ppo", "trpo"):
        with pytest.raises(RlcvError, match=f"--algo {algo} has no oracle samples.*--algo ppo-oracle"):
            resolve_config(algo, ENV, None, {"oracle_ratio": 2})


def test_the_old_spelling_trains_the_oracle_agent_with_one_deprecation_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    algo, config = resolve("ppo", ENV, None, {"oracle_ratio": 4})
    assert algo == "ppo-oracle" and config == resolve_config("ppo-oracle", ENV, None, {"oracle_ratio": 4})
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "rlcv: deprecated: --algo ppo --set oracle_ratio=4 is now --algo ppo-oracle --set oracle_ratio=4 "
        "(the same training); use that spelling."
    ]
    assert resolve("ppo-oracle", ENV, None, {"oracle_ratio": 4})[0] == "ppo-oracle"
    assert resolve("mbmf-ppo", ENV, None, {"oracle_ratio": 1})[0] == "mbmf-ppo"  # the old default: dropped
    assert capsys.readouterr().err.count("rlcv: deprecated:") == 1
    old = ["train", "--algo", "ppo", "--env", ENV, "--set", "oracle_ratio=2"]
    assert upgrade_train_args(old) == [
        "train",
        "--algo",
        "ppo-oracle",
        "--env",
        ENV,
        "--set",
        "oracle_ratio=2",
    ]
    assert upgrade_train_args(old[:-2]) == old[:-2]


@pytest.mark.parametrize(("ratio", "algo"), [(1, "ppo"), (2, "ppo-oracle")])
def test_run_folders_of_the_old_spelling_read_in_the_new_one(tmp_path: Path, ratio: int, algo: str) -> None:
    """config.yaml of a run made before the agent existed: PPO's config held oracle_ratio."""
    config = {**dataclasses.asdict(resolve_config("ppo", ENV, None, {})), "oracle_ratio": ratio}
    old = yaml.safe_dump({"algo": "ppo", "env": ENV, "steps": 64, "seed": 0, "config": config})
    (tmp_path / "config.yaml").write_text(old)
    meta = RunDir(tmp_path).read_meta()
    assert meta["algo"] == algo and ("oracle_ratio" in meta["config"]) == (ratio > 1)
    assert (tmp_path / "config.yaml").read_text() == old  # the file itself is left as written


@pytest.mark.expensive  # ~3 s: two short trainings through the CLI
def test_a_run_of_the_old_spelling_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rlcv.cli import main

    run = tmp_path / "run"
    sets = [f"{k}={v}" for k, v in SMALL.items()]
    args = ["train", "--env", ENV, "--steps", "64", "--no-progress", "--run-dir", str(run), "--set", *sets]
    assert main([*args[:1], "--algo", "ppo", *args[1:], "oracle_ratio=2"]) == 0
    assert "rlcv: deprecated: --algo ppo --set oracle_ratio=2" in capsys.readouterr().err
    assert yaml.safe_load((run / "config.yaml").read_text())["algo"] == "ppo-oracle"
    # as an older version wrote it: PPO's algo name with the key
    meta = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**meta, "algo": "ppo"}))
    assert main(["train", "--resume", str(run), "--steps", "128", "--no-progress"]) == 0
    assert [row["step"] for row in RunDir(run).metrics_rows()] == ["64", "128"]


def test_summaries_of_the_old_spelling_count_as_the_same_runs(tmp_path: Path) -> None:
    """The committed summaries say `--algo ppo --set oracle_ratio=r`; the bench now passes `--algo
    ppo-oracle`: it skips them (no "made with other settings" error), and still sees other changes."""
    from rlcv.bench import runs

    spec = oracle.OracleSpec(envs=[ENV], ratios=[1, 2], seeds=1, out=str(tmp_path))
    jobs = oracle.plan(spec)
    for job in jobs:
        old = [a if a != "ppo-oracle" else "ppo" for a in job.train_args]
        assert old != job.train_args and job.summary is not None
        job.summary.parent.mkdir(parents=True, exist_ok=True)
        job.summary.write_text(json.dumps({"train_args": old, "eval": {}, "final": {}}))
    done, todo = runs.triage(jobs)
    assert done == jobs and todo == []
    changed = jobs[0].train_args[:-1] + ["oracle_ratio=4"]
    with pytest.raises(RlcvError, match="made with other settings"):
        runs.triage([runs.RunJob(jobs[0].name, jobs[0].run_dir, changed, 1, summary=jobs[0].summary)])


def _curve(steps: list[int], returns: list[float]) -> SeedCurve:
    return SeedCurve(np.asarray(steps), np.asarray(returns, dtype=float))


def test_paired_speedups_on_synthetic_curves() -> None:
    s = [10, 20, 30, 40]
    curves = {
        1: {0: _curve(s, [1, 2, 3, 4]), 1: _curve(s, [0, 1, 2, 2]), 2: _curve(s, [5, 5, 5, 5])},
        2: {0: _curve(s, [1, 3, 4, 5]), 1: _curve(s, [2, 2, 2, 2]), 2: _curve(s, [1, 1, 1, 1])},
    }
    # target step 35: the last evaluation at or before it is step 30
    out = speedups_over_base(curves, target_step=35, final_step=40)
    assert out["targets"] == {"0": 3.0, "1": 2.0, "2": 5.0}
    r1, r2 = out["ratios"]["1"], out["ratios"]["2"]
    assert [r1["seeds"][k]["steps"] for k in "012"] == [30, 30, 10]  # r = 1's own noise floor
    assert [r2["seeds"][k]["steps"] for k in "012"] == [20, 10, None]
    assert r2["reached"] == 2 and r2["never_reached"] == [2]
    assert r2["speedup"]["point"] == pytest.approx((35 / 20 + 35 / 10) / 2)
    assert 35 / 20 <= r2["speedup"]["low"] <= r2["speedup"]["high"] <= 35 / 10
    assert r2["steps_to_target"]["point"] == 15.0
    assert r2["final_return"]["point"] == pytest.approx((5 + 2 + 1) / 3)
    assert r2["final_minus_r1"]["point"] == pytest.approx((1 + 0 - 4) / 3)
    # a seed without an r = 1 run has no target and is listed, not dropped silently
    curves[2][3] = _curve(s, [9, 9, 9, 9])
    assert speedups_over_base(curves, target_step=35, final_step=40)["ratios"]["2"]["no_baseline"] == [3]


def test_bad_bench_settings_are_one_error(tmp_path: Path) -> None:
    with pytest.raises(RlcvError, match="--ratios must be integers >= 1 and include 1"):
        oracle.OracleSpec(ratios=[2, 4], out=str(tmp_path)).validate()
    with pytest.raises(RlcvError, match="--target-step 200000 must lie in"):
        oracle.OracleSpec(target_step=200_000, out=str(tmp_path)).validate()


@pytest.mark.expensive
def test_bench_oracle_end_to_end_resumes_from_summaries(tmp_path: Path) -> None:
    from rlcv.cli import main

    out = tmp_path / "oracle"
    argv = ["bench", "oracle", "--envs", ENV, "--ratios", "1", "2", "--seeds", "2", "--steps", "2048"]
    argv += ["--target-step", "1024", "--eval-freq", "1024", "--eval-episodes", "2", "--out", str(out)]
    assert main(argv) == 0
    summaries = sorted(p.relative_to(out).as_posix() for p in (out / "summaries").rglob("*.json"))
    assert summaries == [f"summaries/{ENV}/r{r}/s{s}.json" for r in (1, 2) for s in (0, 1)]
    summary = json.loads((out / f"summaries/{ENV}/r2/s1.json").read_text())
    assert summary["eval"]["steps"] == [1024, 2048] and summary["final"]["step"] == 2048
    assert summary["train_args"][-2:] == ["--set", "oracle_ratio=2"]
    md = (out / "oracle.md").read_text()
    assert "| r | seeds | reached |" in md and "\n| 2 | 2 | " in md and (out / f"oracle_{ENV}.png").is_file()

    shutil.rmtree(out / "runs")  # a fresh clone: only the committed summaries are left
    report = md
    (out / "oracle.md").unlink()
    assert main(argv) == 0
    assert not (out / "runs").exists()  # nothing was trained again
    assert (out / "oracle.md").read_text() == report
    (out / "oracle.md").unlink()
    assert main([*argv, "--report-only"]) == 0
    assert (out / "oracle.md").read_text() == report
