"""BGAN through the `rlcv` command at tiny budgets: train, eval (held-out metrics), resume, errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from rlcv import checkpoint
from rlcv.agents import agent_class
from rlcv.cli import main
from rlcv.config import build_config
from rlcv.logger import COMMON_METRICS, WALL_CLOCK_METRICS
from rlcv.loop import Trainer as Session

ENV = "rlcv/BGAN-Digits-v0"
TINY = [
    "--set",
    "n_steps=16",
    "n_samples=4",
    "hidden_sizes=[16]",
    "--env-kwargs",
    '{"disc_hidden_sizes": [16], "disc_batch_size": 16, "eval_samples": 60}',
]


def _train(
    run_dir: Path,
    *,
    algo: str = "bgan",
    env: str = ENV,
    steps: int = 64,
    seed: int = 0,
    extra: list[str] | None = None,
) -> int:
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
            *TINY,
            *(extra or []),
            "--no-progress",
            "--run-dir",
            str(run_dir),
        ]
    )


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bgan_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("bgan") / "R"
    assert _train(run_dir) == 0
    return run_dir


def test_train_writes_run_dir_with_bgan_metrics(bgan_run: Path) -> None:
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.pt", "policy.pt"):
        assert (bgan_run / name).is_file(), name
    assert list((bgan_run / "tb").glob("events.out.tfevents.*"))
    header = (bgan_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert tuple(header) == (*COMMON_METRICS, *agent_class("bgan").metric_names)
    rows = _rows(bgan_run)
    assert [int(r["step"]) for r in rows] == [16, 32, 48, 64]
    last = rows[-1]
    assert 1.0 <= float(last["ess"]) <= 4.0 and float(last["log_w_var"]) >= 0.0
    assert float(last["disc_updates"]) == 15  # 64 latents × 4 images / 16 per step, minus the last buffer
    state = checkpoint.load(bgan_run / "checkpoints" / "last.pt")
    assert state["collector"]["env_states"][0]["disc_updates"] == 15
    model = checkpoint.load(bgan_run / "policy.pt")
    for k, v in model["env_state"]["disc"].items():  # the discriminator travels with the model
        assert torch.equal(v, state["collector"]["env_states"][0]["disc"][k])


def test_same_seed_same_run(bgan_run: Path, tmp_path: Path) -> None:
    assert _train(tmp_path / "A") == 0
    strip = [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in _rows(tmp_path / "A")]
    assert strip == [{k: v for k, v in r.items() if k not in WALL_CLOCK_METRICS} for r in _rows(bgan_run)]


def test_eval_reports_held_out_metrics_and_grid(bgan_run: Path, tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    grid = tmp_path / "grid.png"
    assert main(["eval", str(bgan_run), "--episodes", "20", "--json", "--grid", str(grid)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 20 and result["std_return"] >= 0
    m = result["metrics"]
    assert 0.0 <= m["c2st_accuracy"] <= 1.0 and 0.0 <= m["nn1_accuracy"] <= 1.0
    assert 0 <= m["class_coverage"] <= 10 and 0.0 <= m["label_entropy"] <= m["label_entropy_max"]
    assert sum(m["label_hist"]) == pytest.approx(1.0) and m["classifier_accuracy"] > 0.9
    assert grid.is_file() and grid.stat().st_size > 0
    assert main(["eval", str(bgan_run), "--episodes", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == result  # deterministic
    assert main(["eval", str(bgan_run), "--episodes", "5"]) == 0
    out = capsys.readouterr().out
    assert "mean return" in out and "c2st_accuracy" in out and "class_coverage" in out


def test_resume_continues_the_discriminator(tmp_path: Path) -> None:
    run = tmp_path / "R"
    assert _train(run, steps=32) == 0
    saved = checkpoint.load(run / "checkpoints" / "last.pt")["collector"]["env_states"][0]
    assert main(["train", "--resume", str(run), "--steps", "64", "--no-progress"]) == 0
    rows = _rows(run)
    assert [int(r["step"]) for r in rows] == [16, 32, 48, 64]
    # 32 latents × 4 images = 128 → 7 steps before the first update's end, then 8 more per 2 updates
    assert float(rows[1]["disc_updates"]) == saved["disc_updates"] == 7
    assert float(rows[3]["disc_updates"]) == 15  # continued from 7, not restarted from 0
    # The resumed session starts from the saved discriminator.
    meta = yaml.safe_load((run / "config.yaml").read_text())
    session = Session(
        algo="bgan", env_id=ENV, config=build_config(agent_class("bgan").config_cls, meta["config"]), seed=0
    )
    session.load_state_dict(checkpoint.load(run / "checkpoints" / "last.pt"))
    env = session.envs.envs[0].unwrapped
    final = checkpoint.load(run / "checkpoints" / "last.pt")["collector"]["env_states"][0]
    assert env.disc_updates == 15
    for k, v in env.disc.state_dict().items():
        assert torch.equal(v, final["disc"][k])
    session.envs.close()


@pytest.mark.parametrize(
    ("algo", "env", "extra"),
    [
        ("bgan-reinforce", ENV, []),
        ("bgan-gumbel", ENV, ["--set", "n_envs=2"]),  # one discriminator per env, rows scored by their own
        ("bgan-gumbel", "rlcv/BGAN-Digits4-v0", ["--set", "straight_through=false"]),
        ("bgan", "rlcv/BGAN-Digits4-v0", []),
        ("bgan", "rlcv/BGAN-DigitsCont-v0", ["--set", "log_std_init=-1.0"]),  # the continuous objective
        pytest.param(  # the self-normalised weights on a Box generator (seconds: CI's full run)
            "bgan",
            "rlcv/BGAN-DigitsCont-v0",
            ["--set", "squash_output=true", "continuous_objective=weights"],
            marks=pytest.mark.expensive,
        ),
    ],
)
def test_variants_train_and_eval(algo: str, env: str, extra: list[str], tmp_path: Path, capsys) -> None:
    run = tmp_path / "R"
    assert _train(run, algo=algo, env=env, steps=64, extra=extra) == 0
    rows = _rows(run)
    assert rows and all(torch.isfinite(torch.tensor(float(r["generator_loss"]))) for r in rows)
    assert float(rows[-1]["grad_norm"]) > 0
    if env.endswith("Cont-v0"):  # the EMA of log Z is the (V − log Z)² objective's alone
        assert (rows[-1]["log_z_ema"] != "") == ("continuous_objective=weights" not in extra)
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "5", "--json"]) == 0
    assert "c2st_accuracy" in json.loads(capsys.readouterr().out)["metrics"]


def test_baseline_on_continuous_env_is_one_clear_error(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert _train(tmp_path / "R", algo="bgan-reinforce", env="rlcv/BGAN-DigitsCont-v0") == 2
    err = capsys.readouterr().err
    assert err.startswith("rlcv: error: ") and err.count("\n") == 1 and "--algo bgan" in err
    assert not (tmp_path / "R").exists()


def test_unknown_config_key_names_the_nearest(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert _train(tmp_path / "R", extra=["--set", "n_sample=3"]) == 2
    assert "n_samples" in capsys.readouterr().err


def test_periodic_eval_is_refused_with_the_alternative(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert _train(tmp_path / "R", extra=["--eval-freq", "32"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rlcv eval RUN_DIR" in err
    assert not (tmp_path / "R").exists()


def _scores(c2st: float, nn1: float, classes: float, share: float, unique: float) -> dict:
    return {
        "c2st_accuracy": c2st,
        "nn1_accuracy": nn1,
        "mmd2": c2st / 100,
        "mmd_p_value": 0.005,
        "confident_coverage": classes,
        "confident_share": share,
        "class_coverage": classes,
        "label_entropy": 2.0,
        "unique_fraction": unique,
        "across_latent_distance": 15.0,
        "within_latent_distance": 5.0,
        "classifier_accuracy": 0.97,
    }


def test_bench_comparisons_and_target_verdicts(tmp_path: Path) -> None:
    from rlcv.bench.bgan import write_report
    from rlcv.gan.rows import comparisons

    def run(algo: str, seed: int, c2st: float, classes: float = 10, unique: float = 1.0) -> dict:
        curve = [
            {
                "step": 640 * k,
                "updates": 10 * k,
                "wall_seconds": (3.0 if algo == "bgan" else 2.0) * k,
                **_scores(c2st + 0.1 / k, 0.7, classes, 0.7, unique),
            }
            for k in (1, 2)
        ]
        return {
            "algo": algo,
            "seed": seed,
            "final": curve[-1],
            "curve": curve,
            "config": {"n_steps": 64, "n_samples": 20, "learning_rate": 1e-3, "adam_betas": [0.5, 0.999]},
            "train": {"ess": 5.0, "entropy": 10.0, "updates": 20},
        }

    def ref(seed: int, c2st: float, share: float = 0.77) -> dict:
        return {"seed": seed, "final": _scores(c2st, c2st, 10, share, 0.98)}

    runs = [run("bgan", s, 0.60 + 0.01 * s) for s in range(3)]
    runs += [run("bgan-reinforce", s, 0.80 + 0.02 * s, classes=4) for s in range(3)]
    runs[2]["final"]["unique_fraction"] = 0.5  # a collapsed seed
    payload = {
        "env": ENV,
        "seeds": [0, 1, 2],
        "steps": 1280,
        "overrides": [],
        "env_kwargs": {},
        "against": "held-out",
        "runs_root": "runs/x",
        "command": "rlcv bench bgan --seeds 3",
        "platform": {"machine": "m", "python": "3", "torch": "t", "numpy": "n", "blas": "b"},
        "runs": runs,
        "references": {
            "k": 20,
            "validation_log_likelihood": {"1": -25.0, "20": -19.0},
            "rows": {
                "real": [ref(s, 0.5) for s in range(3)],
                "independent": [ref(s, 0.93) for s in range(3)],
                "mixture": [ref(s, 0.70 + 0.001 * s) for s in range(3)],
            },
        },
    }
    payload["comparisons"] = comparisons(payload)
    eq = payload["comparisons"]["equal_updates"]
    mixture = eq["mixture"]["c2st_accuracy"]  # BGAN − mixture per seed: -0.05, -0.041, -0.032
    assert (mixture["point"], mixture["n"], mixture["method"]) == (pytest.approx(-0.041), 3, "paired t")
    assert mixture["high"] < 0
    assert eq["bgan-reinforce"]["c2st_accuracy"]["point"] == pytest.approx(-0.21)
    # the stats.jsonable shape: one pair has no interval (null bounds), as strict JSON
    one = comparisons({**payload, "runs": [r for r in runs if r["seed"] == 0]})["equal_updates"]["mixture"]
    assert one["c2st_accuracy"]["low"] is None and one["c2st_accuracy"]["n"] == 1
    json.dumps(one, allow_nan=False)
    # Equal wall-clock: reinforce's runs end at 4 s, so BGAN is taken at its first point (3 s).
    wall = payload["comparisons"]["equal_wall_clock"]["bgan-reinforce"]
    assert wall["bgan_updates"] == [10, 10, 10] and wall["other_updates"] == [20, 20, 20]
    assert wall["c2st_accuracy"]["point"] == pytest.approx(0.71 - 0.87)
    text = write_report(payload, tmp_path)
    verdicts = text[text.index("## Targets") : text.index("## Learning curves")]
    assert "c2st_accuracy below the mixture's, paired CI excluding 0: **met**" in verdicts
    assert "nn1_accuracy below the mixture's, paired CI excluding 0: **missed**" in verdicts
    assert "Confident coverage 10/10 on every seed" in verdicts and "(0.770): **met**" in verdicts
    assert "No collapsed seed" in verdicts and "**missed** (1.000, 1.000, 0.500)" in verdicts
    assert "ahead of `bgan-reinforce` on C2ST with non-overlapping CIs: **met**" in verdicts
    assert (tmp_path / "bgan.md").read_text() == text
    assert "K = 20 such products" in text and "one Bernoulli per pixel" in text
    assert "rlcv bench bgan --seeds 3" in text
    # The command stands next to each table and figure: rows, paired tables, targets, curves, samples.
    assert text.count("Regenerated by `rlcv bench bgan --seeds 3`.") == 5
    assert "![bgan](bgan/bgan_s0.png)" in text and "![mixture](bgan/mixture.png)" in text


RESULTS = Path(__file__).resolve().parent.parent / "results"


@pytest.mark.parametrize(
    "path",
    [RESULTS / "bgan.json", *RESULTS.glob("bgan-*.json"), *RESULTS.glob("bgan*_schedule/*.json")],
    ids=lambda p: str(p.relative_to(RESULTS)),
)
def test_committed_bgan_comparisons_are_the_codes(path: Path) -> None:
    """Each committed `bench bgan` JSON holds the comparisons this code computes from its runs, in the
    stats.jsonable shape (`--report-only` rewrites them; the pages' regeneration reads them)."""
    from rlcv.gan.rows import comparisons

    payload = json.loads(path.read_text())
    assert payload["comparisons"] == comparisons(payload)


@pytest.mark.expensive  # several seconds: CI runs it, the fast local subset skips it
def test_bench_trains_evaluates_and_reuses_finished_runs(tmp_path: Path, capsys) -> None:
    argv = [
        "bench",
        "bgan",
        "--algos",
        "bgan",
        "bgan-reinforce",
        "--seeds",
        "1",
        "--steps",
        "32",
        "--curve-points",
        "2",
        "--workers",
        "2",
        *TINY,
        "--out",
        str(tmp_path / "out"),
        "--runs",
        str(tmp_path / "runs"),
    ]
    assert main(argv) == 0
    payload = json.loads((tmp_path / "out" / "bgan.json").read_text())
    assert [(r["algo"], r["seed"]) for r in payload["runs"]] == [("bgan", 0), ("bgan-reinforce", 0)]
    for r in payload["runs"]:
        assert r["train"]["updates"] == 2 and [p["updates"] for p in r["curve"]] == [1, 2]
        assert 0.0 <= r["final"]["c2st_accuracy"] <= 1.0 and 0.0 <= r["final"]["mmd_p_value"] <= 1.0
    assert set(payload["references"]["rows"]) == {"real", "independent", "mixture"}
    assert 0 <= payload["references"]["labeller_on_reference"]["confident_share"] <= 1
    assert payload["platform"]["numpy"] and payload["seeds"] == [0]
    text = (tmp_path / "out" / "bgan.md").read_text()
    assert "## Paired comparisons" in text and "issue" not in text
    for png in ("bgan_s0.png", "real.png", "mixture.png", "independent.png", "curves.png"):
        assert (tmp_path / "out" / "bgan" / png).is_file()
    summaries = sorted(p.name for p in (tmp_path / "out" / "bgan" / "summaries").glob("*.json"))
    assert summaries == ["bgan-reinforce_s0.json", "bgan_s0.json"]
    capsys.readouterr()
    assert main(argv) == 0  # a re-invocation reuses the scored runs without training them
    assert "reusing 2 scored run(s)" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "bgan.json").read_text())["runs"] == payload["runs"]
    assert main([*argv, "--set", "n_samples=8"]) == 2
    assert "made with other settings" in capsys.readouterr().err
