"""`rlcv bench ipg-versions`: interleaving, per-instance verdicts, the page from fake summaries, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rlcv.bench.ipg_versions import write_report
from rlcv.bench.runs import SummaryStore
from rlcv.cli import main
from rlcv.games.versions import FASTER, SLOWER, compare, interleave, plan

PAPER_DATA = Path(__file__).resolve().parent.parent / ".." / "shared" / "ipg"


class FakeSolver:
    """Answers from a list of CPU seconds (None = a time-out), recording the order of the calls."""

    def __init__(self, name: str, cpu: list[float | None], log: list[str]) -> None:
        self.name, self.cpu, self.log = name, list(cpu), log

    def solve(self, path: Path, method: str, time_limit: float) -> dict[str, Any]:
        self.log.append(self.name)
        seconds = self.cpu.pop(0)
        solved = seconds is not None
        return {"cpu_seconds": seconds if solved else time_limit, "solved": solved, "payoffs": [1.0, 2.0]}


def run(arm: str, k: int, cpu: float, solved: bool = True, payoffs: list[float] | None = None) -> dict:
    return {"arm": arm, "repeat": k, "cpu_seconds": cpu, "solved": solved, "payoffs": payoffs or [1.0, 2.0]}


def record(old_cpu: list[float], new_cpu: list[float], **kw: Any) -> dict[str, Any]:
    pairs = enumerate(zip(old_cpu, new_cpu, strict=True))
    runs = [r for k, (a, b) in pairs for r in (run("old", k, a), run("new", k, b))]
    return {"runs": runs, **kw}


def test_interleave_alternates_the_order_and_stops_after_a_time_out() -> None:
    log: list[str] = []
    old, new = FakeSolver("old", [1.0, 1.0, 1.0], log), FakeSolver("new", [2.0, 2.0, 2.0], log)
    runs = interleave(old, new, Path("x.npy"), "m-sgm", 3, 10.0)
    assert log == ["old", "new", "new", "old", "old", "new"]
    assert [(r["arm"], r["repeat"]) for r in runs][:4] == [("old", 0), ("new", 0), ("new", 1), ("old", 1)]
    log.clear()
    old, new = FakeSolver("old", [None, 1.0], log), FakeSolver("new", [2.0, 2.0], log)
    runs = interleave(old, new, Path("x.npy"), "m-sgm", 5, 10.0)
    assert log == ["old", "new"] and [r["solved"] for r in runs] == [False, True]


def test_verdict_only_where_the_interval_excludes_one() -> None:
    slower = compare(record([1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 2.2, 1.9, 2.0]))
    assert slower["verdict"] == SLOWER and slower["ratio"].low > 1 and slower["same_ne"]
    noisy = compare(record([1.0, 1.2, 0.8, 1.0, 1.1], [1.1, 0.9, 1.0, 1.2, 0.95]))
    assert noisy["verdict"] == "" and noisy["ratio"].low <= 1 <= noisy["ratio"].high
    assert compare(record([2.0, 2.1, 1.9], [1.0, 1.0, 1.1]))["verdict"] == FASTER
    old_out = {"runs": [run("old", 0, 120.0, solved=False), run("new", 0, 20.0)]}
    new_out = {"runs": [run("old", 0, 3.0), run("new", 0, 120.0, solved=False)]}
    assert compare(old_out)["verdict"] == FASTER and compare(new_out)["verdict"] == SLOWER
    # a wall-clock time-out after fewer CPU seconds than the other arm needed says nothing
    early = {"runs": [run("old", 0, 17.0), run("new", 0, 15.0, solved=False)]}
    assert compare(early)["verdict"] == ""
    other = {"runs": [run("old", 0, 1.0), run("new", 0, 1.0, payoffs=[1.0, 2.5])]}
    assert compare(other)["same_ne"] is False


def _fake_sweep(out: Path, data: Path) -> None:
    identity = {"commit": "a" * 40, "games_tree": "t"}
    new = {"commit": "b" * 40, "games_tree": "u"}
    params = {"old": "t", "new": "u", "repeats": 3, "time_limit": 120.0}
    store = SummaryStore(out / "ipg_versions" / "knapsack" / "m-sgm")
    for ins, new_cpu in enumerate([[2.0, 2.1, 2.2], [1.0, 1.1, 0.9]]):
        rec = record(
            [1.0, 1.1, 0.9], new_cpu, instance=f"knapsack/Game_2_20_{ins}.npy", old=identity, new=new
        )
        store.put(f"Game_2_20_{ins}", params, rec)
    (data / "knapsack").mkdir(parents=True)
    for ins, profits in enumerate([[1.0, 2.0], [1.0, 3.0]]):  # the paper agrees on instance 0 only
        fields = f"ne=[1, 1]\nProfits={profits}\nS=[[[1.0]], [[1.0]]]\nnumb_iter=2\ncpu_time=0.01\n"
        text = "m-SGM results \n" + fields
        (data / "knapsack" / f"Game_2_20_{ins}.txt").write_text(text)


def test_page_from_fake_summaries(tmp_path: Path) -> None:
    out, data = tmp_path / "results", tmp_path / "data"
    _fake_sweep(out, data)
    report = write_report(out, data)
    page = (out / "ipg_versions.md").read_text()
    assert "--old aaaaaaa --new bbbbbbb --repeats 3 --time-limit 120" in page
    assert "above 1 (slower) on 1 (knapsack m-sgm Game_2_20_0)" in page
    assert "1 slower in the sweep: **missed**" in page and "1 of 2: **missed**" in page
    assert "| 0 | 1.000 | 2.100 | 2.10 [" in page and "| slower | yes | yes |" in page
    assert report["summary"]["slower"] == ["knapsack m-sgm Game_2_20_0"]
    assert main(["bench", "ipg-versions", "--report-only", "--out", str(out), "--data", str(data)]) == 0
    assert (out / "ipg_versions.md").read_text() == page
    # --confirm's re-measurement of the slower cell, within the noise: the confirmed target is met
    store = SummaryStore(out / "ipg_versions" / "confirm" / "knapsack" / "m-sgm")
    old = json.loads((out / "ipg_versions" / "knapsack" / "m-sgm" / "Game_2_20_0.json").read_text())
    store.put("Game_2_20_0", old["params"], {**old["result"], **record([1.0, 1.1, 0.9], [1.05, 0.95, 1.0])})
    page = (out / "ipg_versions.md").read_text() if write_report(out, data) else ""
    assert "--time-limit 120 --confirm --out" in page and "| slower; again 1.00 [" in page
    assert "0 of 1 again slower: **met**" in page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--old is required"),
        (["--old", "no-such-ref-xyz"], "'no-such-ref-xyz' is not a commit"),
        (["--report-only"], "per-instance summaries"),
        (["--old", "HEAD", "--data", "none"], "has no knapsack/ folder"),
    ],
)
def test_bad_input_is_one_error_line(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "knapsack").mkdir(parents=True)
    argv = ["bench", "ipg-versions", "--out", str(tmp_path / "out"), "--data", str(data), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("rlcv: error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.skipif(not PAPER_DATA.is_dir(), reason="the IPG paper's files (../shared/ipg) are absent")
def test_plan_lists_the_paper_files_of_each_set_and_sgm_only_where_the_page_runs_it() -> None:
    jobs = plan(PAPER_DATA, ["m-sgm", "sgm"], ["2x10", "2x20", "ls2x10"])
    names = [(family, method, name) for family, method, name, _ in jobs]
    assert len(names) == 10 + 20 + 20 and ("knapsack", "sgm", "Game_2_10_0") not in names
    assert names[:2] == [("knapsack", "m-sgm", "Game_2_10_0"), ("knapsack", "m-sgm", "Game_2_10_1")]
    assert all(path.is_absolute() and path.exists() for *_, path in jobs)


@pytest.mark.expensive  # two worker processes (scipy, HiGHS imports) and ten solves each: ~15 s
@pytest.mark.skipif(not PAPER_DATA.is_dir(), reason="the IPG paper's files (../shared/ipg) are absent")
def test_two_workers_of_the_same_commit_agree(tmp_path: Path) -> None:
    argv = ["bench", "ipg-versions", "--old", "HEAD", "--sets", "2x10", "--methods", "m-sgm"]
    assert main([*argv, "--repeats", "1", "--out", str(tmp_path), "--data", str(PAPER_DATA)]) == 0
    page = (tmp_path / "ipg_versions.md").read_text()
    assert "Same equilibrium payoffs as the old code on 10 of 10" in page
