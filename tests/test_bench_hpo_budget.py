"""Paired statistics and refused verdicts; `rlcv bench hpo-budget` / `dualcutout` on tiny budgets."""

from __future__ import annotations

import json

import pytest

from rlcv.bench.hpo_budget import verdict_text
from rlcv.cli import main
from rlcv.hpo.method_results import compare, outcome
from rlcv.hpo.runners import cosine, fixed_run, sh_cost
from rlcv.stats import Interval, paired_t

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_outcome_reads_the_side_of_zero_the_interval_lies_on():
    above, below = Interval(0.5, 0.1, 0.9, 5, "paired t"), Interval(-0.5, -0.9, -0.1, 5, "paired t")
    assert outcome(above, higher_is_better=True) == "better" == outcome(below, higher_is_better=False)
    assert outcome(below, higher_is_better=True) == "worse" == outcome(above, higher_is_better=False)
    assert outcome(Interval(0.5, -0.1, 0.9, 5, "paired t"), True) == "unresolved"
    assert outcome(paired_t([2.0], [1.0]), True) == "unresolved"  # one pair: no interval, no verdict


def test_verdict_is_refused_when_the_best_fixed_setting_is_within_the_ci():
    tuned = [0.97, 0.98, 0.96, 0.99, 0.97]
    close = [0.975, 0.97, 0.97, 0.985, 0.975]  # differences straddle 0
    v = compare(tuned, close, higher_is_better=True)
    assert v["outcome"] == "unresolved" and not v["claims_tuned_ge_fixed"]
    text = verdict_text(v, "hpo-x", "lr1", "acc")
    assert text.startswith("no verdict on test accuracy") and "does not claim tuned ≥ fixed" in text
    assert v["ci"].low < 0 < v["ci"].high and v["ci"] == paired_t(tuned, close)
    worse = [t - 0.02 - 0.001 * i for i, t in enumerate(tuned)]
    v = compare(tuned, worse, higher_is_better=True)
    assert v["claims_tuned_ge_fixed"]
    assert verdict_text(v, "hpo-x", "lr1", "acc").startswith("hpo-x beats the best fixed setting lr1")
    # lower is better for a loss: a tuned loss clearly above the fixed one is "fixed beats tuned"
    v = compare([0.2, 0.21, 0.22], [0.1, 0.1, 0.12], higher_is_better=False)
    assert v["outcome"] == "worse" and not v["claims_tuned_ge_fixed"]
    assert "f beats t on validation loss: t − fixed = +0.103 [" in verdict_text(v, "t", "f", "val")
    assert outcome(paired_t([], []), True) == "unresolved"


def test_cosine_schedule_is_followed_per_env_step():
    kw = {"budget": 40, "steps_per_action": 10, "hidden_size": 8}
    record = fixed_run(kw, 0, {"lr": 0.5}, cosine)
    lrs = [row[1] for row in record["trace"]]
    assert lrs == pytest.approx([0.5 * cosine(k, 4) for k in range(4)])
    assert lrs[0] < 0.5 and lrs[-1] > 0 and lrs == sorted(lrs, reverse=True)


def test_successive_halving_cost():
    # 8 configurations, rungs at 3 and 9 of 30 env steps: 8·3 + 2·6 + 1·21 = 57 env steps (1.9 runs)
    assert sh_cost(8, 30, 3, 3) == 57
    assert sh_cost(9, 30, 3, 3) == 9 * 3 + 3 * 6 + 1 * 21
    assert sh_cost(1, 30, 3, 3) == 30


def test_hpo_budget_bench_runs_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "hb"
    args = [
        "bench",
        "hpo-budget",
        "--seeds",
        "2",
        "--budget",
        "40",
        "--steps-per-action",
        "10",
        "--trials",
        "2",
    ]
    args += ["--grid", "0.1", "--methods", "fixed", "random", "sh-2", "hpo-ts", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    rows = {r["method"]: r for r in summary["rows"]}
    assert {"fixed-best", "random-2", "sh-2", "hpo-ts"} <= set(rows)
    # successive halving within 2 runs: 2 configurations (3 env steps each), the better one to the end
    assert rows["sh-2"]["runs"]["sgd_steps"] == pytest.approx(sh_cost(2, 4, 3, 3) / 4) == pytest.approx(1.75)
    assert rows["random-2"]["runs"]["sgd_steps"] == pytest.approx(2.0)
    assert "vs_fixed-best" in summary["verdicts"] and (out / "anytime.png").is_file()
    # intervals in the stats.jsonable shape, strict JSON
    assert set(summary["verdicts"]["vs_sh-2"]["acc"]) == {"point", "low", "high", "n", "method", "never"}
    assert "NaN" not in (out / "summary.json").read_text()
    capsys.readouterr()
    before = {p.name: p.read_text() for p in (out / "per_run").iterdir()}
    assert main(args) == 0  # everything is on disk: nothing reruns
    assert "[seed" not in capsys.readouterr().out
    assert {p.name: p.read_text() for p in (out / "per_run").iterdir()} == before


def test_dualcutout_bench_and_bad_task(tmp_path, capsys):
    out = tmp_path / "dc"
    args = ["bench", "dualcutout", "--seeds", "2", "--budget", "20", "--steps-per-action", "10"]
    assert main([*args, "--arms", "none", "cutout", "dualcutout", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pairs"]) == {"dualcutout-cutout", "cutout-none", "dualcutout-none"}
    assert summary["pairs"]["cutout-none"]["paired_t"]["n"] == 2
    assert "paper_order_reproduced" in summary and summary["step_cost"]["ratio_median"] > 0
    capsys.readouterr()
    assert main([*args, "--model", "resnet", "--out", str(tmp_path / "bad")]) == 2
    assert "rlcv: error:" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_meta_training_seeds_come_from_their_own_range_only():
    from rlcv.envs.online_hpo import OnlineHPOEnv
    from rlcv.hpo.runners import META_SEED_RANGE

    env = OnlineHPOEnv(budget=10, steps_per_action=10, hidden_size=4, inner_seed_range=[5, 8])
    drawn = {env.reset(seed=k)[1]["inner_seed"] for k in range(30)}
    assert drawn == {5, 6, 7}
    assert env.reset(options={"inner_seed": 0})[1]["inner_seed"] == 0  # a pinned seed is never redrawn
    assert META_SEED_RANGE[0] > 0
    with pytest.raises(ValueError, match="inner_seed_range"):
        OnlineHPOEnv(inner_seed_range=[3, 3])


def test_ppo_is_meta_trained_on_seeds_disjoint_from_the_evaluation_seeds(tmp_path, capsys):
    from rlcv.hpo.runners import META_SEED_RANGE

    out = tmp_path / "hb"
    args = ["bench", "hpo-budget", "--seeds", "2", "--budget", "20", "--steps-per-action", "10"]
    args += ["--grid", "0.1", "--methods", "fixed", "ppo", "--meta-episodes", "3", "--out", str(out)]
    args += ["--env-kwargs", '{"hidden_size": 4}']
    assert main(args) == 0
    meta = json.loads((out / "per_run" / "ppo-meta.json").read_text())
    assert meta["episodes"] == 3 and len(meta["inner_seeds"]) == 3
    assert all(META_SEED_RANGE[0] <= s < META_SEED_RANGE[1] for s in meta["inner_seeds"])
    assert not set(meta["inner_seeds"]) & {0, 1}
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["method"]: r for r in summary["rows"]}
    # the evaluation run is charged one run; meta-training is reported apart, in the env's units
    assert rows["ppo"]["runs"]["sgd_steps"] == pytest.approx(1.0) and rows["ppo"]["online"]
    assert summary["ppo_meta"]["cost"]["sgd_steps"] == pytest.approx(3 * 20)
    assert "meta-trained once" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main([*args[:3], "1000001", *args[4:]]) == 2  # evaluation seeds must stay below the meta range
    assert "--seeds <=" in capsys.readouterr().err


@pytest.mark.expensive  # ~45 s: MNIST-1D generated for ppo-x's meta-training tasks
def test_ppo_x_is_meta_trained_once_and_its_copy_kept_beside_the_runs(tmp_path, capsys):
    args = ["bench", "hpo-budget", "--seeds", "1", "--budget", "20", "--steps-per-action", "10"]
    args += ["--grid", "0.1", "--methods", "fixed", "ppo-x", "--ppo-x-episodes", "2"]
    args += [
        "--ppo-x-dir",
        str(tmp_path / "px"),
        "--env-kwargs",
        '{"hidden_size": 4}',
        "--out",
        str(tmp_path / "hb"),
    ]
    assert main(args) == 0
    meta = json.loads((tmp_path / "px" / "meta.json").read_text())
    assert meta["episodes"] == 2 and set(meta["task_per_episode"]) <= {0, 1}
    copy = json.loads((tmp_path / "hb" / "per_run" / "ppo-x-meta.json").read_text())
    assert copy["inner_seeds"] == meta["inner_seeds"]
    assert "`ppo-x` was meta-trained once on 2 inner runs" in (tmp_path / "hb" / "report.md").read_text()


def test_one_paired_seed_gives_no_interval_and_no_verdict():
    v = compare([0.5], [0.6], higher_is_better=True)
    assert v["outcome"] == "unresolved" and not v["claims_tuned_ge_fixed"]
    assert verdict_text(v, "t", "f", "acc") == (
        "no verdict on test accuracy against f: t − fixed = -10 points on 1 paired seed, no interval."
    )
