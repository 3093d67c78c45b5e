"""`rlcv bench ipg`: the single-instance JSON, bad input as one-line errors or "solved": false, the table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlcv.bench.ipg import paper_lot_sizing_table, paper_result
from rlcv.cli import main
from rlcv.games.instances import generate_knapsack, save_game

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
def test_paper_result_parses_the_papers_runs() -> None:
    rec = paper_result(DATA / "knapsack" / "Game_2_20_0.txt", "m-sgm")
    assert rec is not None
    assert (rec["iterations"], rec["sampled_sizes"], rec["support_sizes"], rec["pure"]) == (
        10,
        [5, 6],
        [3, 3],
        False,
    )
    assert rec["payoffs"] == pytest.approx([149.0, 272.63235294117646])
    timed_out = paper_result(DATA / "knapsack" / "Game_2_80_4.txt", "m-sgm")
    assert timed_out is not None and timed_out["solved"] is False


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
    with continuous quantities in the JSON; the paper's table 07 rows (T = 50, 100) parse."""
    args = ["bench", "ipg", "--sets", "ls2x30", "--instances", "1", "--methods", "m-sgm", "--data", str(DATA)]
    assert main([*args, "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "ipg" / "lot_sizing" / "m-sgm" / "Game_2_30_0.json").read_text())
    assert (
        rec["solved"] and rec["pure"] and rec["instance"].startswith("generated: lot_sizing_instances(T=30")
    )
    assert any(v != int(v) for v in rec["players"][0]["strategies"][0])  # quantities are not truncated
    assert not list(tmp_path.rglob("*.npy"))
    rows = paper_lot_sizing_table(DATA, 2, 50, "m-sgm")
    assert rows is not None and len(rows) == 10 and rows[5]["iterations"] == 17 and rows[5]["pure"]
    assert paper_lot_sizing_table(DATA, 2, 100, "sgm")[0]["seconds"] == 0.49
