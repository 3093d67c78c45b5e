"""`rlcv bench walk` and `rlcv bench sharpness` at tiny sizes: reports, resumability, stale summaries."""

from __future__ import annotations

import json

import pytest

from rlcv.bench import sharpness, walk
from rlcv.bench.runs import SummaryStore
from rlcv.cli import main
from rlcv.errors import RlcvError
from rlcv.hpo import landscape_runs
from rlcv.hpo.sgd_paths import InnerRun

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WALK = [
    "bench", "walk", "--seeds", "2", "--epochs", "0.2", "--sgd-lrs", "0.1", "1", "10", "--gd-lrs", "1",
    "--iso-lrs", "1", "--batch-sizes", "32", "64", "128", "--lambda-every", "10", "--lanczos-iterations", "3",
    "--overhead-repeats", "0",
]  # fmt: skip


@pytest.mark.expensive
def test_walk_writes_its_figures(tmp_path) -> None:
    out = tmp_path / "res"
    assert main([*WALK, "--out", str(out)]) == 0
    for name in ("walk_shapes.png", "walk_height.png", "walk_distance.png", "walk_lambda.png"):
        assert (out / name).is_file(), name


def test_walk_writes_its_report_and_resumes_from_its_summaries(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(walk, "plot", lambda out, folder: None)  # figures: the expensive test above
    out = tmp_path / "res"
    assert main([*WALK, "--out", str(out)]) == 0
    assert (out / "walk.md").is_file() and (out / "walk.json").is_file()
    report = (out / "walk.md").read_text()
    assert "GD lr 1: floor inside" in report and "Spearman(S, ‖θ_T − θ_0‖)" in report
    data = json.loads((out / "walk.json").read_text())
    assert data["verdicts"]["gd_inside"]["1.0"] == [0.0, 0.0]  # full-batch GD never overshoots here
    assert len(list((out / "walk").glob("*.json"))) == 2 * (1 + 3 + 1 + 3)

    def boom(*a, **k):
        raise AssertionError("a finished run was recomputed")

    monkeypatch.setattr(walk, "_walk_run", boom)
    assert main([*WALK, "--out", str(out)]) == 0  # every run from its summary
    assert main([*WALK, "--out", str(out), "--report-only"]) == 0


def test_walk_refuses_a_summary_made_with_other_parameters(tmp_path, capsys) -> None:
    out = tmp_path / "res"
    store = SummaryStore(out / "walk")
    store.put("gd_lr1_s0", {"stale": True}, {})  # the first job's name, other parameters
    assert WALK[4] == "--epochs"
    assert main([*WALK[:5], "0.3", *WALK[6:], "--out", str(out)]) == 2
    assert "made with other parameters" in capsys.readouterr().err


def test_summary_store_round_trip(tmp_path) -> None:
    store = SummaryStore(tmp_path)
    assert store.run("a", {"x": 1}, lambda: {"y": 2.0}) == {"y": 2.0}
    assert store.get("a", {"x": 1}) == {"y": 2.0} and store.get("b", {"x": 1}) is None
    with pytest.raises(RlcvError, match="other parameters"):
        store.get("a", {"x": 2})


def test_isotropic_control_has_the_minibatch_noise_norm() -> None:
    """Same seed: the isotropic step's noise has the norm of the minibatch step's noise (in expectation
    over ξ: ‖ξ‖/√P ≈ 1 for P in the thousands)."""
    import torch

    a = InnerRun(task="digits", model="mlp", lr=1.0, batch_size=32, seed=0)
    b = InnerRun(task="digits", model="mlp", lr=1.0, batch_size=32, seed=0, noise="isotropic")
    full = a._grad(a.X, a.y)
    sgd_before, sgd_after = a.step()
    iso_before, iso_after = b.step()
    sgd_noise = (sgd_before - sgd_after) - full
    iso_noise = (iso_before - iso_after) - full
    assert float(iso_noise.norm()) == pytest.approx(float(sgd_noise.norm()), rel=0.05)
    assert abs(float(torch.nn.functional.cosine_similarity(iso_noise, sgd_noise, dim=0))) < 0.1


SHARP = [
    "bench", "sharpness", "--seeds", "2", "--task", "digits", "--hidden", "16",
    "--eta-sweep", "0.05", "0.2", "0.8", "--batch-sweep", "16", "32", "64", "--batch-sweep-lr", "0.2",
    "--ratios", "0.01", "0.001", "--ratio-batches", "16", "32", "--target-loss", "1.0",
    "--fixed-epochs", "1", "--max-epochs", "3", "--probe", "100",
    "--lanczos-iterations", "4", "--schedule-steps", "400", "--digits-target-loss", "0",
]  # fmt: skip


def test_sharpness_writes_both_protocols_and_the_schedules(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sharpness, "plot", lambda out, folder: None)  # matplotlib: see the walk test
    out = tmp_path / "res"
    assert main([*SHARP, "--out", str(out)]) == 0
    for name in ("sharpness.md", "sharpness.json"):
        assert (out / name).is_file(), name
    report = (out / "sharpness.md").read_text()
    assert "## digits, matched loss" in report and "## digits, fixed budget" in report
    assert "lr_decay vs batch growth" in report and "equal examples" in report
    data = json.loads((out / "sharpness.json").read_text())
    decay, growth = data["schedules"]["lr_decay"][0], data["schedules"]["batch_growth"][0]
    assert decay["sgd_steps"] == growth["sgd_steps"] == 400 and growth["examples"] > decay["examples"]
    assert [t[2] for t in growth["trace"]] == [32, 32, 64, 128]  # S doubles at 50 % and 75 %
    equal = data["schedules"]["batch_growth_equal_examples"][0]
    assert equal["examples"] == decay["examples"] and equal["sgd_steps"] == 200 + 50 + 25
    fixed = data["sweeps"]["digits"]["eta"][0][0]["fixed"]
    assert fixed["epochs"] == pytest.approx(1.0, abs=0.05) and fixed["lambda_max"] > 0  # whole steps

    monkeypatch.setattr(landscape_runs, "sharp_run", lambda *a, **k: pytest.fail("recomputed"))
    monkeypatch.setattr(landscape_runs, "schedule_run", lambda *a, **k: pytest.fail("recomputed"))
    assert main([*SHARP, "--out", str(out), "--report-only"]) == 0
