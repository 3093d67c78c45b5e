"""`rlcv bench speed` and `rlcv bench variance` end to end at tiny budgets (the numbers live in results/),
and the bench registry that `rlcv bench` is built from."""

from __future__ import annotations

import argparse
import importlib
import json

import pytest

from rlcv.bench import BENCH_MODULES
from rlcv.cli import build_parser, main


def test_every_bench_module_registers_parsers_that_carry_their_handler() -> None:
    sub = argparse.ArgumentParser().add_subparsers()
    for module in BENCH_MODULES:
        before = set(sub.choices)
        importlib.import_module(module).register(sub)
        added = set(sub.choices) - before
        assert added, f"{module} registered no parser"
        for name in added:
            assert callable(sub.choices[name].get_default("bench_run")), name
    # every bench this file was written against (a new bench adds its own parsers beside them)
    assert set(sub.choices) >= {
        "speed",
        "learn",
        "compare",
        "gate",
        "gradcheck",
        "gradcheck-report",
        "variance",
        "variance-report",
        "mbmf-speed",
        "model-diag",
        "cost-profile",
        "seeded-runs",
        "bgan",
        "bgan-capacity",
        "bgan-schedule",
        "bgan-update-cost",
        "hpo-budget",
        "dualcutout",
        "oracle",
        "oracle-spent",
        "ipg",
        "ipg-agents",
        "walk",
        "sharpness",
        "ldf",
        "ldf-cycle",
    }
    args = build_parser().parse_args(["bench", "bgan", "--report-only"])
    assert args.bench == "bgan" and args.bench_run.__module__ == "rlcv.bench.bgan"


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("var")
    run = root / "R"
    code = main(
        [
            "train",
            "--algo",
            "ppo",
            "--env",
            "InvertedPendulum-v5",
            "--steps",
            "512",
            "--run-dir",
            str(run),
            "--set",
            "n_steps=256",
            "batch_size=64",
            "n_epochs=1",
            "--no-progress",
        ]
    )
    assert code == 0
    return run


def test_variance_harness_writes_json_png_and_report(ppo_run, tmp_path, capsys) -> None:
    out = tmp_path / "v" / "ip.json"
    code = main(
        [
            "bench",
            "variance",
            "--run",
            str(ppo_run),
            "--k",
            "0",
            "1",
            "3",
            "--batches",
            "6",
            "--bootstrap",
            "50",
            "--ref-batches",
            "4",
            "--fit-steps",
            "512",
            "--model-steps",
            "10",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").is_file()
    rows = result["rows"]
    assert [(r["k"], r["eta_mode"]) for r in rows] == [
        (0, "none"),
        (1, "fixed"),
        (3, "fixed"),
        (1, "fitted"),
        (3, "fitted"),
    ]
    assert rows[0]["var_ratio_vs_k0"] == rows[0]["trace_ratio"] == 1.0
    assert rows[0]["ci"]["trace_ratio"] == [1.0, 1.0] and rows[0]["ceiling_gamma"] == 1.0
    for r in rows:
        assert {"rel_trace_cov", "var_ratio_vs_k0", "cos_to_reference", "max_abs_bias_z"} <= r.keys()
        assert {
            "trace_ratio_minibatch_clipped",
            "trace_ratio_mom",
            "rel_trace_cov_uncorrected",
            "bias_chi2_p",
            "bias_proj_p",
            "cv_score_var_ratio",
            "ceiling_lambda",
        } <= r.keys()
        for key in ("trace_ratio", "trace_ratio_minibatch_clipped", "rel_trace_cov", "ceiling_gamma"):
            lo, hi = r["ci"][key]
            assert lo <= hi
        assert -1.0 <= r["cos_to_reference"] <= 1.0 and r["rel_trace_cov"] > 0
        assert 0.0 <= r["ceiling_gamma"] <= 1.0 or r["eta_mode"] == "fixed"
    # defaults from the run: the training batch (n_steps × n_envs) and PPO's minibatch (batch_size)
    assert result["batch_size"] == 256 and result["minibatch_size"] == 64 and result["step"] == 512
    assert result["vf_coef"] == 0.5 and result["variant"] == "correct"
    assert {(c["k"], c["d"], c["eta_mode"]) for c in result["ceiling"]} == {
        (k, d, m) for k in (0, 1, 3) for d in ("gamma", "lambda") for m in ("fixed", "fitted")
    }
    assert "model_error_1step" in result and "model_error_3step" in result
    assert main(["bench", "variance-report", "--dir", str(out.parent)]) == 0
    table = (out.parent / "table.md").read_text()
    assert "| InvertedPendulum-v5 | 512 | 3 | fitted | correct |" in table
    assert "| InvertedPendulum-v5 | 512 | 3 | lambda | fitted |" in table  # the ceiling table


def test_variance_harness_missing_run(tmp_path, capsys) -> None:
    code = main(["bench", "variance", "--run", str(tmp_path / "nope"), "--json", str(tmp_path / "x.json")])
    assert code == 2 and "not found" in capsys.readouterr().err


@pytest.mark.expensive  # several seconds: CI runs it, the fast local subset skips it
def test_speed_bench_reports_ratio(tmp_path) -> None:
    code = main(
        [
            "bench",
            "speed",
            "--env",
            "InvertedPendulum-v5",
            "--steps",
            "2048",
            "--repeats",
            "1",
            "--algos",
            "ppo",
            "sb3-ppo",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "speed.json").read_text())
    assert set(result["median_fps"]) == {
        "ppo",
        "sb3-ppo",
        "sb3-ppo-raw",
    }  # raw SB3 learn() as a fairness check
    assert result["ratios"]["ppo/sb3-ppo"] > 0 and result["ratios"]["ppo/sb3-ppo-raw"] > 0
    assert "rlcv bench speed" in (tmp_path / "speed.md").read_text()


def test_variance_report_refuses_results_of_the_old_harness(tmp_path, capsys) -> None:
    old = {"run": "runs/x", "env": "Hopper-v5", "step": 1, "rows": [{"k": 0, "rel_trace_cov": 1.0}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main(["bench", "variance-report", "--dir", str(tmp_path)]) == 2
    assert "old harness" in capsys.readouterr().err


@pytest.mark.expensive  # ~20 s: the harness three times (the fit itself is checked cheaply below)
def test_variance_harness_fits_the_model_with_the_td_term(ppo_run, tmp_path) -> None:
    """`--model-td-weight` trains the model on the imagined TD errors too; it is recorded, the run is
    seeded (two runs give the same rows), and it changes the model (a different training loss)."""
    base = f"bench variance --run {ppo_run} --k 0 2 --batches 4 --bootstrap 20 --ref-batches 3".split()
    base += "--fit-steps 512 --model-steps 5 --eta-modes split".split()
    out = {}
    for name, weight in (("a", "1.0"), ("b", "1.0"), ("plain", "0")):
        assert main([*base, "--model-td-weight", weight, "--json", str(tmp_path / f"{name}.json")]) == 0
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert out["a"]["model_td_weight"] == 1.0 and out["plain"]["model_td_weight"] == 0.0
    assert out["a"]["model_train_loss"] == out["b"]["model_train_loss"]
    assert out["a"]["rows"][1]["trace_cov"] == out["b"]["rows"][1]["trace_cov"]
    assert out["a"]["model_train_loss"] != out["plain"]["model_train_loss"]


@pytest.mark.expensive  # ~15 s: the harness twice (the fit itself is checked cheaply below)
def test_variance_harness_model_lr_is_recorded_and_used(ppo_run, tmp_path) -> None:
    """`--model-lr` sets the model fit's Adam learning rate (recorded; a different fit)."""
    base = f"bench variance --run {ppo_run} --k 0 2 --batches 4 --bootstrap 20 --ref-batches 3".split()
    base += "--fit-steps 512 --model-steps 5 --eta-modes split".split()
    out = {}
    for name, extra in (("default", []), ("fast", ["--model-lr", "0.01"])):
        assert main([*base, *extra, "--json", str(tmp_path / f"{name}.json")]) == 0
        out[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert out["default"]["model_lr"] == 1e-3 and out["fast"]["model_lr"] == 0.01
    assert out["default"]["model_train_loss"] != out["fast"]["model_train_loss"]


def test_variance_model_fit_uses_the_td_term_and_the_learning_rate(ppo_run) -> None:
    """The step-1 fit alone (the harness's expensive tests above run it whole): seeded, and both
    ``model_td_weight`` and ``model_lr`` change the fitted model; the flags reach the spec."""
    import torch

    from rlcv.bench.variance import spec_of
    from rlcv.diagnostics.checkpoint import collect_batches, fit_model, load_session, model_settings

    def loss(td_weight: float, lr: float | None = None) -> float:
        torch.manual_seed(0)
        _, session = load_session(ppo_run, "last.pt", 0)
        settings = model_settings(session.config, lr)  # type: ignore[arg-type]
        fit = fit_model(
            session,
            settings,
            lambda: collect_batches(session, 2, 256),
            capacity=512,
            model_steps=5,
            model_horizon=3,
            model_td_weight=td_weight,
        )
        return fit[1]

    plain = loss(0.0)
    assert loss(1.0) == loss(1.0) != plain
    assert loss(0.0, 0.01) != plain
    argv = f"bench variance --run {ppo_run} --model-td-weight 0.5 --model-lr 0.01 --json x.json".split()
    spec = spec_of(build_parser().parse_args(argv))
    assert (spec.model_td_weight, spec.model_lr) == (0.5, 0.01)
