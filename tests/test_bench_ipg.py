"""`rlcv bench ipg`: the single-instance JSON, bad input as one-line errors or "solved": false, the table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlcv.bench import ipg
from rlcv.cli import main
from rlcv.games.comparisons import per_instance
from rlcv.games.instances import (
    generate_knapsack,
    save_game,
)
from rlcv.games.records import cpu
from rlcv.games.sweep import estimate_line, result_path

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "ipg"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="the paper's instances (../shared/ipg) are absent")


def _tiny(tmp_path: Path, m: int = 2, b: int | None = None) -> Path:
    np.random.seed(4)
    arrays = generate_knapsack(m, 6, ins=3)
    if b is not None:
        arrays["b"] = np.full((m, 1), b, dtype=np.int32)
        arrays["A"] = np.abs(arrays["A"]) + 1
    path = tmp_path / "g.npy"
    save_game(arrays, path)
    return path


@pytest.mark.parametrize("method", ["m-sgm", "sgm"])
def test_single_instance_json(tmp_path: Path, method: str) -> None:
    out = tmp_path / "r.json"
    code = main(["bench", "ipg", "--instance", str(_tiny(tmp_path)), "--method", method, "--json", str(out)])
    rec = json.loads(out.read_text())
    assert code == 0 and rec["solved"] is True and rec["method"] == method
    assert rec["nash_conv"] <= 1e-6 and rec["seconds"] > 0
    for player in rec["players"]:
        assert len(player["strategies"]) == len(player["probabilities"])
        assert sum(player["probabilities"]) == pytest.approx(1.0)
        assert all(set(x) <= {0, 1} and len(x) == 6 for x in player["strategies"])
        assert isinstance(player["payoff"], float)


def test_time_out_is_solved_false(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code = main(
        ["bench", "ipg", "--instance", str(_tiny(tmp_path)), "--time-limit", "1e-9", "--json", str(out)]
    )
    rec = json.loads(out.read_text())
    assert code == 1 and rec["solved"] is False and "time limit" in rec["reason"]


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.npy"
    junk.write_text("hello")
    np.random.seed(0)
    wrong = dict(generate_knapsack(2, 4, ins=1), c=np.zeros((2, 5), dtype=np.int32))  # c of 5 items, n_I 4
    save_game(wrong, tmp_path / "wrong.npy")
    cases = {
        str(junk): "is not a readable .npy game file",
        str(tmp_path / "wrong.npy"): "c has shape (2, 5), expected (2, 4)",
        str(_tiny(tmp_path, b=-1)): "player 0 has no feasible strategy",
        str(tmp_path / "none.npy"): "does not exist",
    }
    for path, message in cases.items():
        assert main(["bench", "ipg", "--instance", path]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert main(["bench", "ipg", "--instance", str(_tiny(tmp_path)), "--time-limit", "0"]) == 2
    assert "argument --time-limit: must be a finite number > 0" in capsys.readouterr().err


@needs_data
def test_table_resumes_and_reports(tmp_path: Path) -> None:
    args = ["bench", "ipg", "--sets", "2x20", "--instances", "2", "--methods", "m-sgm", "--data", str(DATA)]
    assert main([*args, "--out", str(tmp_path)]) == 0
    first = tmp_path / "ipg" / "knapsack" / "m-sgm" / "Game_2_20_0.json"
    stamp = first.read_text()
    first.write_text(stamp.replace('"iterations": 10', '"iterations": 99'))
    assert main([*args, "--out", str(tmp_path)]) == 0  # the existing result is kept, not recomputed
    report = (tmp_path / "ipg.md").read_text()
    assert "| 0 | " in report and "| 99 |" in report and "| 1 | " in report
    summary = json.loads((tmp_path / "ipg.json").read_text())["sets"]["2x20/m-sgm"]
    assert summary["ours"]["solved"] == 2 and summary["paper"]["mean_iterations"] == 9.0


@needs_data
def test_lot_sizing_periods_without_files_are_generated(tmp_path: Path) -> None:
    """ls2x30 has no shared files: the generator draws them (nothing is kept) and m-SGM ends in a pure NE
    with continuous quantities in the JSON."""
    args = ["bench", "ipg", "--sets", "ls2x30", "--instances", "1", "--methods", "m-sgm", "--data", str(DATA)]
    assert main([*args, "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "ipg" / "lot_sizing" / "m-sgm" / "Game_2_30_0.json").read_text())
    assert (
        rec["solved"] and rec["pure"] and rec["instance"].startswith("generated: lot_sizing_instances(T=30")
    )
    assert any(v != int(v) for v in rec["players"][0]["strategies"][0])  # quantities are not truncated
    assert not list(tmp_path.rglob("*.npy"))


# -- instances without ../shared (issue 27, item 6) ------------------------------------------------
def test_table_generates_the_instances_without_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --data and no ../shared/ipg: 2x20 is generated (the paper's files bit for bit), 3x10 too (new
    draws, labelled); the estimate line comes first; no paper columns; nothing generated is kept."""
    monkeypatch.setattr(ipg, "DEFAULT_DATA", tmp_path / "missing")
    out = tmp_path / "out"
    args = ["bench", "ipg", "--sets", "2x20", "3x10", "--instances", "1", "--methods", "m-sgm"]
    assert main([*args, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "is absent: generating the instances with the paper's generator" in lines[0]
    assert lines[1].startswith("ipg: 2 solves left (2x20/m-sgm 1, 3x10/m-sgm 1); estimate ≈ ")
    assert "worst case 20 min (2 × --time-limit 600 s)" in lines[1]
    rec = json.loads((out / "ipg" / "knapsack" / "m-sgm" / "Game_2_20_0.json").read_text())
    assert rec["solved"] and rec["source"] == "generated-paper"
    assert rec["instance"].startswith("generated: paper_knapsack_instances(seed=1)[(20, 0)]")
    other = json.loads((out / "ipg" / "knapsack" / "m-sgm" / "Game_3_10_0.json").read_text())
    assert other["solved"] and other["source"] == "generated" and "not the paper's file" in other["instance"]
    sections = (out / "ipg.md").read_text().split("\n## ", 1)[1]
    assert "Instances: generated by the paper's generator" in sections
    assert "Instances: generated (not the paper's files)" in sections
    assert "paper s" not in sections and "Paper: " not in sections
    sets = json.loads((out / "ipg.json").read_text())["sets"]
    assert sets["2x20/m-sgm"]["paper"] is None and sets["3x10/m-sgm"]["instances"].startswith(
        "generated (not"
    )
    assert not list(tmp_path.rglob("*.npy"))
    assert main([*args, "--out", str(out)]) == 0  # nothing left: no estimate line
    assert "solves left" not in capsys.readouterr().out


def test_missing_data_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["bench", "ipg", "--sets", "2x20", "--data", str(tmp_path / "nope"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "--data" in err and "does not exist" in err and "leave --data out" in err
    (tmp_path / "empty").mkdir()
    assert main(["bench", "ipg", "--data", str(tmp_path / "empty"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no knapsack/ or lot_sizing/ folder" in err, err
    assert not out.exists()


def test_estimate_line(tmp_path: Path) -> None:
    """Per set and method: this --out's mean solved time, else the committed run's, else worst case only."""
    own = result_path(tmp_path, "knapsack", "m-sgm", 2, 40, 0)
    own.parent.mkdir(parents=True)
    own.write_text(json.dumps({"solved": True, "seconds": 3.0}) + "\n")
    sets = [("knapsack", 2, 40), ("lot_sizing", 2, 100), ("knapsack", 4, 7)]
    line = estimate_line(sets, ["m-sgm"], tmp_path, 100.0, 2, ipg.REFERENCE_OUT)
    assert line is not None
    # 2x40: 1 left × 3 s (own); ls2x100: 2 × the committed run's mean wall seconds; 4x7: unknown
    committed = (ipg.REFERENCE_OUT / "ipg/lot_sizing/m-sgm").glob("Game_2_100_*.json")
    ref = np.mean([json.loads(p.read_text())["seconds"] for p in committed])
    assert line.startswith(
        f"ipg: 5 solves left (2x40/m-sgm 1, ls2x100/m-sgm 2, 4x7/m-sgm 2); estimate ≈ {3 + 2 * ref:.1f} s"
    )
    assert "worst case 8 min (5 × --time-limit 100 s)" in line
    assert line.endswith("no typical time for 4x7/m-sgm (2 solves): worst case only.")
    assert estimate_line([("knapsack", 2, 40)], ["m-sgm"], tmp_path, 100.0, 1, ipg.REFERENCE_OUT) is None


def test_per_instance_lines_count_cpu_seconds_and_withhold_a_non_comparable_set() -> None:
    """Wins / losses compare our CPU seconds (wall only for a record without them) with the paper's;
    a set whose paper answers agree with ours on no payoff gets the warning alone, no wins / losses."""
    ours = [
        {"solved": True, "seconds": 9.0, "cpu_seconds": 0.5},  # faster by CPU, slower by wall
        {"solved": True, "seconds": 3.0},  # an old record: its wall seconds
    ]
    paper = [{"solved": True, "seconds": 1.0}, {"solved": True, "seconds": 2.0}]
    wins = per_instance(ours, paper, ["yes", "yes"])["wins"]
    assert (wins["faster"], wins["slower"], wins["n"]) == (1, 1, 2)
    assert cpu(ours[0]) == 0.5 and cpu(ours[1]) == 3.0
    assert per_instance(ours, paper, ["no", "no"]) == {"not_comparable": 2}
