"""`rlcv bench compare` and `rlcv bench gate`: the statistics on hand-made summaries and metrics files
with known answers, the page helpers, and the drift test — every committed page these benches generate
is regenerated from its committed inputs (summaries, committed metrics files) and must be byte-identical."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest
from scipy import stats as sps

from rlcv.bench import compare, report
from rlcv.cli import main
from rlcv.diagnostics import training_metrics
from rlcv.stats import Interval

REPO = Path(__file__).resolve().parent.parent
STEPS = [1000, 2000, 3000, 4000]
# Hand-made eval curves, chosen so that every number below can be worked out by hand.
BASE = {0: [0, 10, 20, 100], 1: [0, 20, 40, 200], 2: [0, 30, 60, 300], 3: [0, 40, 80, 400], 4: [0, 0, 0, 9]}
ARM = {0: [0, 30, 60, 110], 1: [10, 40, 70, 260], 2: [20, 60, 90, 330], 3: [0, 10, 20, 450]}


def _write_summary(
    out: Path, algo: str, env: str, seed: int, returns: list[float], steps: list[int] = STEPS, **last: float
) -> None:
    path = out / "summaries" / algo / env / f"s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "name": f"{algo}/{env}/s{seed}",
        "train_args": ["train", "--algo", algo, "--env", env, "--seed", str(seed)],
        "eval": {"steps": steps, "return_mean": returns, "return_std": [0.0] * len(returns)},
        "final": {"step": steps[-1], "eval_return_mean": returns[-1], **last},
    }
    path.write_text(json.dumps(summary))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    out = tmp_path / "sweep"
    for seed, curve in BASE.items():
        _write_summary(out, "base", "Env-v0", seed, curve, approx_kl=0.01 * (seed + 1))
    for seed, curve in ARM.items():
        _write_summary(out, "arm", "Env-v0", seed, curve, approx_kl=0.02, cv_gate=1.0)
    _write_summary(out, "arm", "Other-v0", 0, [1, 2, 3, 4])  # an env only the arm has
    return out


def test_final_returns_paired_difference_and_worst_seeds(sweep: Path) -> None:
    result = compare.compare(compare.CompareSpec(out=str(sweep), base="base", arm="arm", targets=[2500]))
    assert list(result["results"]) == ["Env-v0"]  # only the env both arms have
    env = result["results"]["Env-v0"]
    assert env["seeds"] == [0, 1, 2, 3] and env["unpaired_base"] == [4] and env["unpaired_arm"] == []
    f = env["final"]
    assert f["base"] == [100, 200, 300, 400] and f["arm"] == [110, 260, 330, 450]
    diffs = [10, 60, 30, 50]  # mean 37.5, sample sd sqrt(1475/3)
    half = sps.t.ppf(0.975, 3) * math.sqrt(1475 / 3) / 2
    t = f["paired_t"]
    assert (
        (t.point, t.n) == (37.5, 4)
        and t.low == pytest.approx(37.5 - half)
        and t.high == pytest.approx(37.5 + half)
    )
    boot = f["paired_bootstrap"]
    assert boot.point == 37.5 and min(diffs) <= boot.low < boot.high <= max(diffs)
    assert f["worst_base"] == {"seed": 0, "return": 100} and f["worst_arm"] == {"seed": 0, "return": 110}
    assert f["arm_all_above_base_worst"] is True


def test_steps_to_the_base_return_and_the_speedup(sweep: Path) -> None:
    env = compare.compare(compare.CompareSpec(out=str(sweep), base="base", arm="arm", targets=[2500]))[
        "results"
    ]["Env-v0"]
    at_2500, final = env["targets"]
    # Target at 2500 steps: the base's returns at its last evaluation <= 2500 (2000): 10, 20, 30, 40 -> 25.
    assert at_2500["eval_steps"] == [2000] and at_2500["target_return"] == 25.0
    assert at_2500["base_steps"] == [4000, 3000, 2000, 2000] and at_2500["arm_steps"] == [
        2000,
        2000,
        2000,
        4000,
    ]
    assert at_2500["base_median"].point == 2500 and at_2500["arm_median"].point == 2000
    assert at_2500["speedup"].point == 1.25 and at_2500["speedup"].never == (0, 0)
    assert at_2500["base_curve_reaches"] == 2000 and at_2500["arm_curve_reaches"] == 2000
    # Final: the base's seed-mean final return, 250. Two base seeds never reach it, one arm seed does not:
    # the base's median is +inf, so the ratio's point is +inf (never dropped, see rlcv.stats).
    assert final["step"] is None and final["target_return"] == 250.0
    assert final["base_steps"] == [None, None, 4000, 4000] and final["arm_steps"] == [None, 4000, 4000, 4000]
    assert final["speedup"].never == (2, 1) and math.isinf(final["speedup"].point)
    assert final["base_curve_reaches"] == 4000 and final["arm_curve_reaches"] == 4000  # means 250, 287.5
    assert env["last_update"]["approx_kl"] == {"base": [0.01, 0.02, 0.03, 0.04], "arm": [0.02] * 4}
    assert env["last_update"]["cv_gate"] == {"base": [None] * 4, "arm": [1.0] * 4}


def test_a_speedup_of_two_on_every_seed_is_shown_with_a_degenerate_interval(tmp_path: Path) -> None:
    """Every arm seed reaches the base's final return (10) in half the base seed's steps: since the median
    is homogeneous (median(2x) = 2 median(x)), every paired bootstrap replicate of the ratio is 2."""
    out, steps = tmp_path / "s", [1000 * i for i in range(1, 9)]
    for seed, reach in enumerate((4000, 6000, 8000)):
        _write_summary(out, "base", "E-v0", seed, [10.0 * (s >= reach) for s in steps], steps)
        _write_summary(out, "arm", "E-v0", seed, [10.0 * (s >= reach // 2) for s in steps], steps)
    result = compare.compare(compare.CompareSpec(out=str(out), base="base", arm="arm", targets=[]))
    env = result["results"]["E-v0"]
    (t,) = env["targets"]
    assert t["target_return"] == 10.0
    assert t["base_steps"] == [4000, 6000, 8000] and t["arm_steps"] == [2000, 3000, 4000]
    assert t["speedup"].as_tuple() == (2.0, 2.0, 2.0)
    expected = "to base's final return (10): speed-up base / arm 2.00× [2.00, 2.00]"
    assert f"\n- {expected}: arm faster (interval above 1)\n" in compare.render_markdown(result)


def test_cli_writes_the_page_and_strict_json(sweep: Path, tmp_path: Path, capsys) -> None:
    pages = tmp_path / "pages"
    argv = ["bench", "compare", "--out", str(sweep), "--base", "base", "--arm", "arm", "--targets", "2500"]
    assert main([*argv, "--page-dir", str(pages), "--report-only"]) == 0
    text = (pages / "compare.md").read_text()
    command = shlex.join(["rlcv", *argv, "--report-only"])
    assert f"    {command}\n" in text  # the regenerate line names --out, not --page-dir
    assert "## Env-v0: 4 paired seeds (0, 1, 2, 3)" in text and "Not paired, left out: base s4." in text
    assert "| 2.5k | 25 (2k) | 4k, 3k, 2k, 2k | 2k, 2k, 2k, 4k | 2.5k / 2k | 2k / 2k |" in text
    assert "never reached: base 2 of 4 seeds, arm 1 of 4" in text
    assert "final return, arm − base, 95 % paired t: +38 [" in text
    data = json.loads((pages / "compare.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    final = data["results"]["Env-v0"]["targets"][1]
    assert final["speedup"]["point"] == "inf" and final["base_steps"] == [None, None, 4000, 4000]


def test_cli_refuses_what_it_cannot_compare(sweep: Path, tmp_path: Path, capsys) -> None:
    base = ["bench", "compare", "--out", str(sweep), "--page-dir", str(tmp_path / "p")]
    assert main([*base, "--base", "base", "--arm", "base"]) == 2
    assert "both 'base'" in capsys.readouterr().err
    assert main([*base, "--base", "base", "--arm", "nope"]) == 2
    assert "no summaries of 'nope'" in capsys.readouterr().err
    assert main([*base, "--base", "base", "--arm", "arm", "--envs", "Other-v0"]) == 2
    assert "no seed has a summary of both" in capsys.readouterr().err
    assert main([*base, "--base", "base", "--arm", "arm", "--name", "../x"]) == 2
    assert not (tmp_path / "p").exists()


# -- the page helpers ------------------------------------------------------------------------------------
def test_report_helpers() -> None:
    assert report.md_table(["a", "b"], [["1", "x|y"]], "r") == ["| a | b |", "|---:|---|", "| 1 | x/y |"]
    with pytest.raises(ValueError):
        report.md_table(["a"], [["1", "2"]])
    iv = Interval(1.4588, 1.0, 2.481, 8, "m")
    kw = {"null": 1.0, "spec": ".2f", "unit": "×", "above": "faster", "below": "slower"}
    assert report.verdict_line("s", iv, **kw) == "s 1.46× [1.00, 2.48]: not shown (interval contains 1)"
    assert report.verdict_line("s", Interval(2, 1.5, 3, 5, "m"), **kw).endswith("faster (interval above 1)")
    assert report.verdict_line("s", Interval(0.5, 0.2, 0.9, 5, "m"), **kw).endswith(
        "slower (interval below 1)"
    )
    one = Interval(1.8, math.nan, math.nan, 1, "m")
    assert report.verdict_line("s", one, **kw) == "s 1.80×: no interval (1 usable pair), no verdict"
    undefined = Interval(1.36, math.nan, math.nan, 5, "paired median-ratio bootstrap")
    assert "(the paired median-ratio bootstrap is undefined on its 5 pairs)" in report.verdict_line(
        "s", undefined, **kw
    )
    assert (
        report.verdict_line("s", Interval(math.nan, math.nan, math.nan, 5, "m"), **kw)
        == "s —: no value, no verdict"
    )
    assert [report.fmt_steps(x) for x in (95232, None, math.inf)] == ["95k", "never", "never"]


# -- rlcv bench gate ---------------------------------------------------------------------------------------
def _metrics(path: Path, gate_col: list[str], ratio: list[str], **cols: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["step", "cv_gate", "cv_score_var_ratio", *cols]
    lines = [",".join(keys)]
    for i in range(len(gate_col)):
        lines.append(",".join([str(1000 * (i + 1)), gate_col[i], ratio[i], *(c[i] for c in cols.values())]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gate_runs_table_by_hand(tmp_path: Path) -> None:
    g = ["0", "0", "1", "1", "1", "1", "1", "1", ""]  # 8 updates logged, one empty cell
    r = ["1", "1", "0.5", "0.5", "0.5", "0.5", "0.25", "0.25", ""]
    err = ["0.1", "0.3", "", "0.2", "0.4", "0.5", "0.6", "0.7", "0.8"]
    _metrics(tmp_path / "runs" / "E-v0" / "s1" / "metrics.csv", g, r, model_error_kstep=err)
    _metrics(
        tmp_path / "runs" / "E-v0" / "s0" / "metrics.csv",
        ["1"] * 4,
        ["0.5"] * 4,
        cv_heldout_ratio=["nan"] * 4,
    )
    (tmp_path / "runs" / "E-v0" / "s2").mkdir()  # no metrics: left out
    runs = training_metrics.runs_stats(tmp_path / "runs")
    assert [(env, seed) for env, seed, _ in runs] == [("E-v0", 0), ("E-v0", 1)]
    r0, r1 = runs[0][2], runs[1][2]
    assert r0["gate_quarters"] == [1, 1, 1, 1] and r0["kstep_error_median"] is None
    assert r0["heldout_ratio_median"] is None  # only 'nan' cells logged
    assert r1["gate_mean"] == 0.75 and r1["gate_quarters"] == [0, 1, 1, 1]
    assert r1["kstep_error_median"] == pytest.approx(0.45) and r1["score_var_ratio_mean"] == 0.5625
    page = tmp_path / "gate.md"
    assert main(["bench", "gate", "--from-runs", str(tmp_path / "runs"), "--page", str(page)]) == 0
    text = page.read_text()
    assert "| E-v0 | 0 | 1.00 | 1.00, 1.00, 1.00, 1.00 | nan | 0.50 / 0.50 | – |" in text
    assert "| E-v0 | 1 | 0.75 | 0.00, 1.00, 1.00, 1.00 | 0.45 | 0.56 / 0.50 | – |" in text
    # over runs: the median of the per-run medians (0.5 and 0.5), with its seed bootstrap
    iv = training_metrics.pooled(tmp_path / "runs")["E-v0"]
    assert (iv.point, iv.low, iv.high, iv.n) == (0.5, 0.5, 0.5, 2)


def test_gate_windows_table_by_hand(tmp_path: Path) -> None:
    csv = _metrics(
        tmp_path / "m.csv",
        ["0", "1", "1", "1"],
        ["1", "0.5", "0.2", ""],
        model_error_1step=["0.1", "", "0.3", "0.5"],
    )
    page = tmp_path / "page.md"
    argv = [
        "bench",
        "gate",
        "--metrics",
        f"run a={csv}",
        "--windows",
        "0:2000",
        "2000:4000",
        "--page",
        str(page),
    ]
    assert main(argv) == 0
    text = page.read_text()
    assert f"    {shlex.join(['rlcv', *argv])}\n" in text
    assert "| run a | 0k–2k | 0.75 / 0.75 | 0.50 | 0.100 |" in text
    assert "| run a | 2k–4k | 0.20 / 0.20 | 1.00 | 0.400 |" in text
    assert main([*argv[:-2], "--page", str(page), "--windows", "5000:6000"]) == 2  # a window without updates


# -- drift: every committed page regenerates byte for byte ---------------------------------------------------
def _committed_pages() -> list[tuple[Path, list[str]]]:
    found = []
    for page in sorted((REPO / "results").rglob("*.md")):
        lines = page.read_text().splitlines()
        if "Regenerate with:" not in lines[:4]:
            continue
        command = lines[lines.index("Regenerate with:") + 2].strip()
        # --from-runs pages whose runs' metrics.csv are committed (under a sweep's metrics/ folder)
        committed_runs = command.startswith("rlcv bench gate --from-runs results/") and "/metrics/" in command
        if command.startswith(("rlcv bench compare", "rlcv bench gate --metrics")) or committed_runs:
            found.append((page, shlex.split(command)[1:]))
    return found


PAGES = _committed_pages()


def test_the_drift_test_sees_every_page() -> None:
    names = {str(p.relative_to(REPO)) for p, _ in PAGES}
    assert {
        "results/learn_mujoco/compare.md",
        "results/learn_mujoco_v3/compare.md",
        "results/learn_mujoco_trpo_v3/compare.md",
        "results/learn_mujoco_hopper_l095/compare.md",
        "results/learn_mujoco_v3/pilot_50k/gate_pilot.md",
        "results/tuned_pair/gate_HalfCheetah-v5_mbmf-ppo-g2.md",
        "results/learn_ant_v4/compare.md",
        "results/learn_ant_v4/gate_Ant-v5_mbmf-ppo.md",
        "results/learn_hopper_v4/compare.md",
        "results/learn_hopper_v4/gate_Hopper-v5_mbmf-ppo.md",
        "results/learn_hc_lr_v4/compare.md",
        "results/learn_hc_lr_v4/compare_vs_g2.md",
        "results/learn_hc_lr_v4/gate_HalfCheetah-v5_mbmf-ppo.md",
        "results/learn_hc_tau_v4/compare.md",
        "results/learn_hc_tau_v4/compare_vs_g2.md",
        "results/learn_hc_tau_v4/gate_HalfCheetah-v5_mbmf-ppo.md",
        "results/learn_walker_v4/compare.md",
        "results/learn_hc_tau_fresh/compare.md",
        "results/learn_hc_tau_fresh/gate_HalfCheetah-v5_mbmf-ppo.md",
        "results/learn_walker_v4/gate_Walker2d-v5_mbmf-ppo.md",
    } <= names


@pytest.mark.parametrize(("page", "argv"), PAGES, ids=[str(p.relative_to(REPO)) for p, _ in PAGES])
def test_committed_page_regenerates_identically(
    page: Path, argv: list[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(REPO)  # the commands name paths from the repository root
    if argv[1] == "compare":
        assert main([*argv, "--page-dir", str(tmp_path)]) == 0
        name = Path(argv[argv.index("--name") + 1] if "--name" in argv else "compare")
        for suffix in (".md", ".json"):
            made, committed = tmp_path / name.with_suffix(suffix), page.with_suffix(suffix)
            assert made.read_bytes() == committed.read_bytes(), f"{committed} drifted: rerun its command"
    else:
        assert main([*argv, "--write-to", str(tmp_path / page.name)]) == 0
        assert (tmp_path / page.name).read_bytes() == page.read_bytes(), f"{page} drifted: rerun its command"
