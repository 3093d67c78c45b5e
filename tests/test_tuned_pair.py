"""`rlcv bench tuned-pair`: two algorithms tune on one grid and budget, then meet on fresh seeds
(analysis on hand-made summaries; bad arguments; one tiny real sweep in the expensive set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench import tuning
from rlcv.cli import main
from rlcv.errors import RlcvError

STEPS = [1000, 2000, 3000, 4000]


def _spec(tmp_path: Path, **kw) -> tuning.PairSpec:
    base = dict(env="Pendulum-v1", grid=["learning_rate=1e-3"], tune_seeds=[10], eval_seeds=3, steps=4000)
    base.update(target_step=4000, eval_freq=1000, eval_episodes=1, out=str(tmp_path))
    base.update(kw)
    return tuning.PairSpec(**base)


def _write(
    spec: tuning.PairSpec, algo: str, k: int, seed: int, returns: list[float], wall: float = 100.0
) -> None:
    path = tuning.job(spec, algo, k, seed).summary
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {"train_args": [], "eval": {"steps": STEPS, "return_mean": returns}, "final": {}}
    summary["wall_seconds"] = wall
    path.write_text(json.dumps(summary))


def test_runs_are_the_algorithms_own_presets_plus_the_grid(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    preset, tuned = tuning.job(spec, "mbmf-ppo", 0, 0), tuning.job(spec, "mbmf-ppo", 1, 0)
    assert preset.summary == tmp_path / "summaries" / "Pendulum-v1" / "mbmf-ppo" / "s0.json"
    assert tuned.summary == tmp_path / "summaries" / "Pendulum-v1" / "mbmf-ppo-g1" / "s0.json"
    assert preset.train_args[:3] == ["train", "--algo", "mbmf-ppo"] and "--set" not in preset.train_args
    assert tuned.train_args[-2:] == ["--set", "learning_rate=1e-3"]
    names = [j.name.removeprefix("Pendulum-v1/") for j in tuning.tuning_jobs(spec)]
    assert names == ["ppo/s10", "mbmf-ppo/s10", "ppo-g1/s10", "mbmf-ppo-g1/s10"]


def test_each_algorithm_keeps_its_best_config_and_meets_the_other_tuned(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    _write(spec, "ppo", 0, 10, [1, 2, 3, 4])  # PPO prefers its preset
    _write(spec, "ppo", 1, 10, [0, 1, 2, 3])
    _write(spec, "mbmf-ppo", 0, 10, [1, 2, 3, 4])
    _write(spec, "mbmf-ppo", 1, 10, [3, 4, 5, 6])  # MBMF prefers g1
    # every seed of the headline pair (PPO preset = target, MBMF's choice) before MBMF's preset
    names = [j.name.removeprefix("Pendulum-v1/") for j in tuning.eval_jobs(spec, {"ppo": 0, "mbmf-ppo": 1})]
    assert names == ["ppo/s0", "mbmf-ppo-g1/s0", "ppo/s1", "mbmf-ppo-g1/s1", "ppo/s2", "mbmf-ppo-g1/s2"] + [
        f"mbmf-ppo/s{s}" for s in range(3)
    ]
    for s in range(3):  # target: PPO's return at 4000 = 4, reached at 4000 by PPO, at 2000 by MBMF-g1
        _write(spec, "ppo", 0, s, [1, 2, 3, 4])
        _write(spec, "mbmf-ppo", 0, s, [1, 2, 3, 4])
        _write(spec, "mbmf-ppo", 1, s, [3, 4, 5, 6], wall=300.0)  # 3x PPO's wall-clock per run
    result = tuning.report(spec, echo=lambda _: None)
    assert result["chosen"] == {"ppo": 0, "mbmf-ppo": 1}
    assert list(result["arms"]) == ["ppo", "mbmf-ppo", "mbmf-ppo-g1"]
    assert result["arms"]["mbmf-ppo-g1"]["speedup"]["point"] == 2.0
    assert result["arms"]["mbmf-ppo-g1"]["algo"] == "mbmf-ppo"
    h2h = result["head_to_head"]["mbmf-ppo-g1"]
    assert h2h["vs"] == "ppo" and h2h["speedup"]["point"] == 2.0
    assert h2h["final_minus_tuned_ppo"]["point"] == pytest.approx(2.0)
    # to the target: PPO 100 s (all 4000 steps), MBMF-g1 300 s x 2000 / 4000 = 150 s
    assert h2h["wallclock_speedup"]["point"] == pytest.approx(100 / 150)
    assert h2h["throughput"]["point"] == pytest.approx(1 / 3)
    page = (tmp_path / "Pendulum-v1.md").read_text()
    assert "| g0: preset | 2 **chosen** | 2 |" in page  # each tuning seed's score (mean eval return)
    assert "| g1: learning_rate=1e-3 | 2 | 4 **chosen** |" in page
    assert "ppo score per seed | mbmf-ppo score per seed" in page and "**chosen**" in page
    assert "Δ final vs ppo preset (paired)" in page and "| mbmf-ppo-g1 | ppo | 3 | 2.00× [" in page
    assert f"Regenerate with `{spec.command()}`" in page


def test_one_algorithm_tunes_its_own_preset_with_no_head_to_head(tmp_path: Path) -> None:
    """`--algos ppo`: fix PPO's preset on a grid (e.g. Hopper's, before both arms share it)."""
    spec = _spec(tmp_path, algos=["ppo"])
    spec.validate()
    _write(spec, "ppo", 0, 10, [1, 1, 1, 1])  # the preset stands still
    _write(spec, "ppo", 1, 10, [1, 2, 3, 4])
    assert [j.name for j in tuning.eval_jobs(spec, {"ppo": 1})][:2] == [
        "Pendulum-v1/ppo/s0",
        "Pendulum-v1/ppo-g1/s0",
    ]
    for s in range(3):
        _write(spec, "ppo", 0, s, [1, 1, 1, 1])
        _write(spec, "ppo", 1, s, [1, 2, 3, 4])
    result = tuning.report(spec, echo=lambda _: None)
    assert result["chosen"] == {"ppo": 1} and result["head_to_head"] == {}
    assert result["arms"]["ppo-g1"]["final_minus_ppo"]["point"] == pytest.approx(3.0)
    page = (tmp_path / "Pendulum-v1.md").read_text()
    assert page.startswith("# Tuned ppo on Pendulum-v1:") and "Tuned against tuned" not in page


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algos", "ppo", "ppo"], "or two different ones"),
        (["--algos", "ppo", "trpo", "mbmf-ppo"], "takes one algorithm, or two"),
        (["--algos", "ppo", "mbmf-ppp"], "unknown algorithm 'mbmf-ppp'"),
        (["--grid", "learning_rat=1e-3"], "unknown config key 'learning_rat'"),
        (["--grid", "learning_rate"], "is not KEY=VALUE"),
        (["--tune-seeds", "1"], "also evaluation seeds"),
        (["--steps", "1000", "--target-step", "2000"], "--target-step 2000 must lie in"),
        (["--report-only"], "no tuning summaries"),
        (["--set", "n_step=64"], "unknown config key 'n_step'"),
    ],
)
def test_bad_arguments_are_one_line_errors_and_write_nothing(
    argv: list[str], message: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    args = ["bench", "tuned-pair", "--env", "Pendulum-v1", "--eval-seeds", "3", "--eval-freq", "500"]
    assert main([*args, *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlcv: error:") and message in err[0]
    assert not out.exists()


def test_reserved_grid_keys_are_refused() -> None:
    with pytest.raises(RlcvError, match="may not set oracle_ratio"):
        tuning.parse_config("oracle_ratio=8", reserved=("oracle_ratio",))


@pytest.mark.expensive  # eight tiny training runs in subprocesses
def test_a_tiny_sweep_tunes_then_evaluates_then_reports(tmp_path: Path) -> None:
    out = tmp_path / "tp"
    argv = ["bench", "tuned-pair", "--env", "InvertedPendulum-v5", "--algos", "ppo", "mbmf-ppo"]
    argv += ["--grid", "learning_rate=1e-3", "--tune-seeds", "5", "--eval-seeds", "1", "--steps", "512"]
    argv += ["--eval-freq", "256", "--eval-episodes", "1", "--workers", "1", "--out", str(out)]
    argv += ["--set", "n_steps=256", "batch_size=64", "n_epochs=1"]
    assert main(argv) == 0
    result = json.loads((out / "InvertedPendulum-v5.json").read_text())
    assert set(result["chosen"]) == {"ppo", "mbmf-ppo"} and result["arms"]
    page = (out / "InvertedPendulum-v5.md").read_text()
    assert main([*argv, "--report-only"]) == 0
    assert (out / "InvertedPendulum-v5.md").read_text() == page  # rebuilt from the summaries alone


def test_spread_row_by_hand() -> None:
    """Worst/best seed by final return; last-update columns as median [min–max], '–' where not logged."""
    from rlcv.bench.tuning import spread_row

    seeds = {
        "0": {"final": 10.0, "approx_kl": 0.1, "clip_fraction": 0.5},
        "1": {"final": 30.0, "approx_kl": 0.3, "clip_fraction": 0.7},
        "2": {"final": None, "approx_kl": 0.2, "clip_fraction": 0.6},
    }
    assert spread_row("a", seeds) == [
        "a",
        "s0: 10",
        "s1: 30",
        "0.200 [0.100–0.300]",
        "0.600 [0.500–0.700]",
        "–",
    ]
