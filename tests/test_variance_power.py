"""Verdicts that know their power in `rlcv bench variance` (issue 24, item 4): every row's bias test says
true / false / null ("inconclusive") with the smallest bias it could detect, and bad arguments end in
one line before any work."""

from __future__ import annotations

import json

import pytest

from rlcv.cli import main

VARIANCE = ["bench", "variance", "--k", "0", "2", "--eta-modes", "fixed", "--no-trust-gate"]
TINY = [
    "--batches",
    "6",
    "--bootstrap",
    "20",
    "--ref-batches",
    "4",
    "--fit-steps",
    "512",
    "--model-steps",
    "10",
]


def _fake_run(root):
    """Enough of a run directory for the argument checks (they run before anything is loaded)."""
    run = root / "R"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(
        "algo: ppo\nenv: InvertedPendulum-v5\nsteps: 512\nseed: 0\nconfig: {gamma: 0.99}\n"
    )
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    return run


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bootstrap", "0"], "argument --bootstrap: must be an integer >= 1"),
        (["--batches", "2"], "argument --batches: must be an integer >= 3"),
        (["--ref-batches", "1"], "argument --ref-batches: must be an integer >= 2"),
        (["--k", "-1"], "argument --k: must be an integer >= 0"),
        (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1"),
        (["--alpha", "1"], "argument --alpha: must be a finite number in (0, 1)"),
        (["--detect-bias", "-1"], "argument --detect-bias: must be a finite number > 0"),
        (["--model-lr", "0"], "argument --model-lr: must be a finite number > 0"),
        (["--model-td-weight", "inf"], "argument --model-td-weight: must be a finite number >= 0"),
        (["--eta-modes", "fited"], "unknown mode 'fited'"),
        (["--estimator", "nope"], "unknown estimator 'nope'"),
        (["--seed", "-3"], "argument --seed: must be an integer in [0, 2**32)"),
        (["--checkpoint", "step_1.pt"], "--checkpoint 'step_1.pt' not found"),
        (["--run", "{tmp}/missing"], "not found"),
        (["--json", "{tmp}/file.txt/v.json"], "argument --json:"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_nothing_written(tmp_path, capsys, extra, message) -> None:
    run = _fake_run(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    argv = ["bench", "variance", "--run", str(run), "--json", str(tmp_path / "out" / "v.json")]
    code = main([*argv, *[a.replace("{tmp}", str(tmp_path)) for a in extra]])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("rlcv: error: ") and captured.err.count("\n") == 1
    assert message in captured.err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("var") / "R"
    argv = ["train", "--algo", "ppo", "--env", "InvertedPendulum-v5", "--steps", "512", "--run-dir", str(run)]
    assert main([*argv, "--set", "n_steps=256", "batch_size=64", "n_epochs=1", "--no-progress"]) == 0
    return run


@pytest.mark.expensive  # ~12 s: a tiny PPO run (shared), then the harness twice
def test_every_row_has_a_verdict_that_knows_its_power(ppo_run, tmp_path, capsys, one_torch_thread) -> None:
    rows = {}
    for variant in ("correct", "broken"):
        out = tmp_path / f"{variant}.json"
        argv = [*VARIANCE, "--run", str(ppo_run), *TINY, "--variant", variant, "--json", str(out)]
        assert main(argv) == 0  # a measurement: the verdicts are in the JSON, not the exit status
        printed = capsys.readouterr().out
        rows[variant] = json.loads(out.read_text())["rows"]
        for r in rows[variant]:
            rejected = r["max_abs_bias_z"] > r["bias_z_threshold"]
            expected = False if rejected else (True if r["has_power"] else None)
            assert r["bias_passed"] is expected
            assert (
                r["bias_verdict"]
                == {True: "unbiased (test has power)", False: "biased", None: "inconclusive"}[expected]
            )
            assert r["has_power"] == (r["target_bias_abs"] >= r["min_detectable_bias_abs"])
            assert len(r["min_detectable_bias"]) == len(
                json.loads(out.read_text())["rows"][0]["min_detectable_bias"]
            )
            assert f"bias k={r['k']} η {r['eta_mode']} ({variant}): {r['bias_verdict']}" in printed
    k0, k2 = rows["correct"]
    assert "default" in k0["power_target"] and k0["target_bias_rel"] == pytest.approx(0.1)
    assert k2["power_target"].startswith("broken variant")
    # The broken variant drops the pathwise term, yet its bias is measured all the same (same batches).
    assert rows["broken"][1]["target_bias_estimate_abs"] == pytest.approx(k2["target_bias_estimate_abs"])
    assert rows["broken"][1]["power_target"].startswith("broken variant")


def test_a_stated_bias_sets_the_power_target(ppo_run, tmp_path, capsys, one_torch_thread) -> None:
    out = tmp_path / "v.json"
    argv = [*VARIANCE, "--run", str(ppo_run), *TINY, "--detect-bias", "1e6", "--json", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    result = json.loads(out.read_text())
    assert result["detect_bias"] == 1e6
    for r in result["rows"]:
        assert r["power_target"].startswith("relative bias 1e+06") and r["has_power"]
        assert r["bias_passed"] is (r["max_abs_bias_z"] <= r["bias_z_threshold"])
