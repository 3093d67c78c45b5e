"""`rlcv bench ipg --fresh`: seeded draws, per-game summaries, resume, the page, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlcv.cli import main
from rlcv.games.comparisons import fresh_summary, quantile
from rlcv.games.sweep import draw, fresh_path, numpy_seed


def test_draws_are_seeded_distinct_and_leave_numpys_state_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a, b = draw(numpy_seed(0, 2, 6, 0), 2, 6, 3), draw(numpy_seed(0, 2, 6, 0), 2, 6, 3)
    assert np.array_equal(np.random.get_state()[1], before)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    seeds = {numpy_seed(s, m, n, i) for s in (0, 1) for m, n in ((2, 6), (3, 6), (2, 7)) for i in range(5)}
    assert len(seeds) == 30  # no two games share a stream
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.9) == 4.0 and quantile([5.0], 0.9) == 5.0


@pytest.mark.expensive  # four solves and three figures: ~10 s on a busy machine
def test_sweep_writes_summaries_resumes_and_reports(tmp_path: Path) -> None:
    args = ["bench", "ipg", "--fresh", "2", "--sizes", "2x6", "3x4", "--seed", "3", "--out", str(tmp_path)]
    assert main(args) == 0
    first = fresh_path(tmp_path, "2x6", 0)
    rec = json.loads(first.read_text())
    assert rec["solved"] and rec["nash_conv"] <= 1e-6 and rec["numpy_seed"] == numpy_seed(3, 2, 6, 0)
    assert rec["ins"] == 0 and rec["cpu_seconds"] > 0 and rec["cpu_limit"] == 60.0
    rec["cpu_seconds"] = 99.0
    first.write_text(json.dumps(rec) + "\n")
    assert main(args) == 0  # resumed: the existing summary is kept
    assert main([*args, "--report-only"]) == 0
    page = (tmp_path / "ipg_fresh.md").read_text()
    assert "| 2x6 | 2/2 |" in page and "| 3x4 | 2/2 |" in page and "99.00" in page
    summary = json.loads((tmp_path / "ipg_fresh.json").read_text())["sizes"]["2x6"]
    assert summary["max_cpu_s"] == 99.0 and summary["games"] == 2
    assert (tmp_path / "ipg_fresh_cpu.png").stat().st_size > 0


def test_unsolved_games_count_with_their_time() -> None:
    recs = [
        {"solved": True, "cpu_seconds": 1.0, "nash_conv": 0.0, "cpu_limit": 5.0},
        {"solved": False, "cpu_seconds": 5.2, "nash_conv": 3.0, "cpu_limit": 5.0},
    ]
    s = fresh_summary(recs)
    assert s["solved"] == 1 and s["max_cpu_s"] == 5.2 and s["worst_nash_conv"] == 0.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sizes", "1x5"], "is not of the form MxN"),
        (["--sizes", "2x6", "--cpu-limit", "0"], "--cpu-limit: must be a finite number > 0"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["bench", "ipg", "--fresh", "1", *extra, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.expensive  # a solve and a figure
def test_other_cap_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "ipg", "--fresh", "1", "--sizes", "2x5", "--out", str(tmp_path)]
    assert main(args) == 0
    assert main([*args, "--cpu-limit", "30"]) == 2
    assert "was solved with --cpu-limit 60.0, not 30" in capsys.readouterr().err
    assert not (tmp_path / "ipg_fresh" / "2x5" / "game_001.json").exists()
