"""`rlcv bench learn` and `rlcv plot`: a tiny LQR sweep through the real CLI, re-invocation,
crash reporting, the Ray backend, and the curve statistics they share (rlcv.plotting)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rlcv.bench import runs
from rlcv.cli import main
from rlcv.plotting import SeedCurve, align, bootstrap_ci, first_step_reaching, summarize
from rlcv.run_dir import RunDir

ENV = "rlcv/LQR-v0"
TINY = ["--envs", ENV, "--steps", "512", "--eval-freq", "256", "--eval-episodes", "2", "--workers", "2"]
TINY_SET = ["n_steps=256", "ppo:batch_size=64", "ppo:n_epochs=1"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def sweep_argv(out: Path, *extra: str) -> list[str]:
    return [
        "bench",
        "learn",
        "--algos",
        "ppo",
        "trpo",
        "--seeds",
        "2",
        *TINY,
        "--reference",
        "ppo",
        "--set",
        *TINY_SET,
        *extra,
        "--out",
        str(out),
    ]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("learn")
    assert main(sweep_argv(out)) == 0
    return out


# -- statistics -----------------------------------------------------------------------------------
def test_align_is_a_step_function_between_each_seeds_first_and_last_point() -> None:
    a = SeedCurve(np.array([100, 200, 300]), np.array([1.0, 2.0, 3.0]))
    b = SeedCurve(np.array([150, 250]), np.array([10.0, 20.0]))
    grid, matrix = align([a, b])
    assert grid.tolist() == [150, 200, 250, 300]  # starts where both seeds have a value
    assert matrix[0].tolist() == [1.0, 2.0, 2.0, 3.0]
    assert matrix[1, :3].tolist() == [10.0, 10.0, 20.0] and np.isnan(matrix[1, 3])  # b ended at 250


def test_bootstrap_and_threshold_facts() -> None:
    assert bootstrap_ci(np.array([5.0])) == (5.0, 5.0)
    assert bootstrap_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)
    low, high = bootstrap_ci(np.array([0.0, 1.0, 2.0, 3.0]))
    assert 0.0 <= low < 1.5 < high <= 3.0
    assert bootstrap_ci(np.array([0.0, 1.0, 4.0])) == bootstrap_ci(np.array([0.0, 1.0, 4.0]))  # seeded
    s = summarize(
        [
            SeedCurve(np.array([1, 2, 3]), np.array([0.0, 5.0, 9.0])),
            SeedCurve(np.array([1, 2, 3]), np.array([2.0, 5.0, 7.0])),
        ]
    )
    assert s.mean.tolist() == [1.0, 5.0, 8.0] and s.n_seeds.tolist() == [2, 2, 2]
    assert np.all(s.low <= s.mean) and np.all(s.mean <= s.high)
    assert first_step_reaching(s, 5.0) == 2 and first_step_reaching(s, 8.5) is None


# -- the sweep ------------------------------------------------------------------------------------
def test_sweep_writes_evaluations_curve_and_tables(sweep: Path) -> None:
    with (sweep / "evaluations.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["algo"], r["env"], r["seed"], r["step"]) for r in rows} == {
        (a, ENV, str(s), str(step)) for a in ("ppo", "trpo") for s in (0, 1) for step in (256, 512)
    }
    assert all(r["eval_return_mean"] and r["eval_return_std"] for r in rows)
    assert (sweep / "curve_rlcv-LQR-v0.png").read_bytes().startswith(PNG_MAGIC)

    md = (sweep / "learn.md").read_text()
    assert "rlcv bench learn --algos ppo trpo --envs rlcv/LQR-v0 --seeds 2 --steps 512" in md
    assert "rlcv train --algo ppo --env rlcv/LQR-v0 --steps 512 --seed 0 --eval-freq 256" in md
    assert "steps to reach ppo" in md and "| ppo | 2 |" in md and "| trpo | 2 |" in md

    result = json.loads((sweep / "learn.json").read_text())
    for algo in ("ppo", "trpo"):
        entry = result["results"][ENV]["algos"][algo]
        low, high = entry["final_ci95"]
        assert entry["seeds"] == 2 and low <= entry["final_mean"] <= high
        assert entry["wall_time_median_s"] > 0 and entry["fps_median"] > 0
    # the reference reaches its own final mean return at the latest at its final evaluation
    assert result["results"][ENV]["algos"]["ppo"]["steps_to_reference"] in (256, 512)
    assert result["failures"] == [] and not (sweep / "failures.txt").exists()


def test_reinvocation_skips_finished_runs(
    sweep: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished run was started again")

    monkeypatch.setattr(runs, "run_local", no_training)
    assert main(sweep_argv(sweep)) == 0
    out = capsys.readouterr().out
    assert "skipping 4 finished run(s)" in out and "nothing to run" in out


def test_report_only_summarises_the_finished_runs_and_launches_none(
    sweep: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A sweep in progress: --report-only reports the finished seeds (here 2 of the 3 asked for)."""

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("--report-only started a run")

    monkeypatch.setattr(runs, "run_local", no_training)
    (sweep / "learn.md").unlink()
    argv = sweep_argv(sweep, "--report-only")
    argv[argv.index("--seeds") + 1] = "3"
    assert main(argv) == 0
    result = json.loads((sweep / "learn.json").read_text())
    assert sorted(result["results"][ENV]["algos"]["ppo"]["final_per_seed"]) == ["0", "1"]
    assert (sweep / "learn.md").is_file() and not (sweep / "runs" / "ppo" / "rlcv-LQR-v0" / "s2").exists()


def test_finished_runs_made_with_other_settings_are_an_error(
    sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(sweep_argv(sweep, "gamma=0.9")) == 2
    assert "made with other settings" in capsys.readouterr().err


def test_crashing_run_is_reported_and_the_sweep_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "learn"
    partial = out / "runs" / "ppo" / "rlcv-LQR-v0" / "s0"  # left behind by an interrupted sweep
    partial.mkdir(parents=True)
    (partial / "metrics.csv").write_text("step\n256\n")
    # clip_range is a PPO key: every trpo run exits non-zero with rlcv's "unknown config key" error
    argv = [
        "bench",
        "learn",
        "--algos",
        "trpo",
        "ppo",
        "--seeds",
        "1",
        *TINY,
        "--steps",
        "256",
        "--set",
        *TINY_SET,
        "trpo:clip_range=0.2",
        "--out",
        str(out),
    ]
    assert main(argv) == 1
    failures = (out / "failures.txt").read_text()
    assert "trpo/rlcv/LQR-v0/s0 (exit 2)" in failures and "clip_range" in failures and "ppo/" not in failures
    md = (out / "learn.md").read_text()
    assert "## Failed runs" in md and "| trpo | 0 |" in md and "| ppo | 1 |" in md
    assert RunDir(partial).is_finished(256)  # restarted from scratch ...
    assert (partial.parent / "s0.incomplete" / "metrics.csv").is_file()  # ... the old folder kept aside


def test_bad_sweep_arguments_fail_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "learn", "--algos", "ppo", "ppo2", *TINY, "--out", str(tmp_path)]) == 2
    assert "unknown algorithm 'ppo2'" in capsys.readouterr().err
    assert (
        main(["bench", "learn", "--algos", "ppo", *TINY, "--set", "trpo:gamma=0.9", "--out", str(tmp_path)])
        == 2
    )
    assert "not in --algos" in capsys.readouterr().err


def test_ray_backend_missing_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    argv = [
        "bench",
        "learn",
        "--algos",
        "ppo",
        "--seeds",
        "1",
        *TINY,
        "--backend",
        "ray",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 2
    assert "pip install" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
@pytest.mark.expensive  # several seconds: CI runs it, the fast local subset skips it
def test_ray_backend_runs_a_sweep(tmp_path: Path) -> None:
    import ray

    argv = [
        "bench",
        "learn",
        "--algos",
        "ppo",
        "--seeds",
        "1",
        *TINY,
        "--steps",
        "256",
        "--workers",
        "1",
        "--backend",
        "ray",
        "--set",
        *TINY_SET,
        "--out",
        str(tmp_path),
    ]
    try:
        assert main(argv) == 0
    finally:
        if ray.is_initialized():  # the bench shuts down the Ray it started; make sure of it
            ray.shutdown()
            pytest.fail("the bench left Ray running")
    run_dir = tmp_path / "runs" / "ppo" / "rlcv-LQR-v0" / "s0"
    assert RunDir(run_dir).is_finished(256)  # shipped back from the task
    assert (tmp_path / "curve_rlcv-LQR-v0.png").is_file()


# -- rlcv plot ------------------------------------------------------------------------------------
def test_plot_draws_runs_grouped_by_algo_and_env(sweep: Path, tmp_path: Path) -> None:
    run_dirs = sorted(str(p) for p in (sweep / "runs").glob("*/*/s?"))
    assert len(run_dirs) == 4
    png = tmp_path / "curves.png"
    assert main(["plot", *run_dirs, "--out", str(png)]) == 0
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert main(["plot", run_dirs[0], "--out", str(png), "--metric", "episode_return_mean"]) == 0


def test_plot_of_a_non_run_folder_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_seeds_per_algo_plan_and_summaries_stand_in_for_run_folders(tmp_path) -> None:
    """Per-algo seed counts; a run whose folder is gone but whose committed summary exists counts as
    finished and is summarised from it (a resumed sweep on a fresh clone)."""
    from rlcv.bench.learn import LearnSpec, parse_pairs, plan, summarise
    from rlcv.errors import RlcvError

    spec = LearnSpec(
        algos=["ppo", "trpo"],
        envs=["Hopper-v5"],
        seeds=5,
        seeds_per_algo=["trpo=2"],
        steps=100,
        out=str(tmp_path),
    )
    jobs = plan(spec)
    assert [(j.algo, j.seed) for j in jobs] == [
        ("ppo", 0), ("trpo", 0), ("ppo", 1), ("trpo", 1), ("ppo", 2), ("ppo", 3), ("ppo", 4)
    ]  # fmt: skip
    summary = jobs[1].run.summary
    assert summary == tmp_path / "summaries" / "trpo" / "Hopper-v5" / "s0.json"
    assert "--seeds-per-algo trpo=2" in spec.command()
    summary.parent.mkdir(parents=True)
    summary.write_text(
        json.dumps(
            {
                "train_args": [],
                "eval": {"steps": [50, 100], "return_mean": [3.0, 7.0], "return_std": [1.0, 2.0]},
                "final": {"time_elapsed": 9.0, "fps": 11.0},
            }
        )
    )
    assert jobs[1].run.is_done() and not jobs[0].run.is_done()
    assert jobs[1].run.run_dir == tmp_path / "runs" / "trpo" / "Hopper-v5" / "s0"
    result = summarise(spec, jobs, [])
    trpo = result["results"]["Hopper-v5"]["algos"]["trpo"]
    assert trpo["final_per_seed"] == {0: 7.0} and trpo["fps_median"] == 11.0
    with pytest.raises(RlcvError, match="ALGO=N"):
        parse_pairs(["trpo"], "--seeds-per-algo", "ALGO", "ppo=5")


def test_first_seed_plans_fresh_seeds_and_names_them_in_the_command(tmp_path) -> None:
    """--first-seed F: seeds F..F+N-1 (per-algo counts too), shown in the regenerating command only when
    set; past the last valid seed it is one clear error before any run."""
    from rlcv.bench.checks import SEED_LIMIT
    from rlcv.bench.learn import LearnSpec, _validate, plan
    from rlcv.errors import RlcvError

    spec = LearnSpec(
        algos=["ppo", "trpo"], envs=["Hopper-v5"], seeds=3, first_seed=10, seeds_per_algo=["trpo=1"],
        steps=100, out=str(tmp_path),
    )  # fmt: skip
    assert [(j.algo, j.seed) for j in plan(spec)] == [("ppo", 10), ("trpo", 10), ("ppo", 11), ("ppo", 12)]
    assert plan(spec)[0].run.summary == tmp_path / "summaries" / "ppo" / "Hopper-v5" / "s10.json"
    assert "--first-seed 10" in spec.command()
    assert "--first-seed" not in LearnSpec(out=str(tmp_path)).command()
    with pytest.raises(RlcvError, match="--first-seed"):
        _validate(LearnSpec(algos=["ppo"], envs=["Hopper-v5"], seeds=2, first_seed=SEED_LIMIT - 1))
