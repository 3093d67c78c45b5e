"""`rlcv bench ipg-agents`: the grading of one run and the page, on hand-made numbers (the committed page's
drift test is in tests/test_reports_regenerate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench import ipg_agents
from rlcv.cli import main
from rlcv.games.comparisons import nash_conv_grade


def test_grade_takes_the_first_update_within_one_percent() -> None:
    row = nash_conv_grade([5.0, 1.5, 0.9, 0.2], [2, 4, 6, 8], mean_ne_payoff=100.0)
    assert row == {
        "mean_ne_payoff": 100.0,
        "final_nash_conv": 0.2,
        "final_rel": 0.002,
        "calls_to_1pct": 6,
        "calls": 8,
    }


def test_grade_without_a_hit() -> None:
    row = nash_conv_grade([3.0, 2.0], [1, 2], mean_ne_payoff=50.0)
    assert row["calls_to_1pct"] is None and row["final_rel"] == pytest.approx(0.04)


def _summary() -> dict[str, dict[int, dict]]:
    def row(hit: int | None, nc: float) -> dict:
        return {
            "mean_ne_payoff": 200.0,
            "final_nash_conv": nc,
            "final_rel": nc / 200,
            "calls_to_1pct": hit,
            "calls": 50,
        }

    return {
        "ipg-psro": {0: row(10, 1.0), 1: row(30, 0.5), 2: row(20, 0.0)},
        "ipg-fp": {0: row(None, 9.0), 1: row(None, 7.0), 2: row(4, 1.0)},
        "ipg-pg": {0: row(None, 4.0), 1: row(None, 6.0), 2: row(None, 8.0)},
    }


def test_render_medians_and_dashes() -> None:
    page = ipg_agents.render(_summary()).splitlines()
    assert "| `ipg-psro` | 3/3 | 20 | 0.0025 |" in page  # median of 10, 20, 30; of 0, 0.0025, 0.005
    assert "| `ipg-fp` | 1/3 | 4 | 0.035 |" in page
    assert "| `ipg-pg` | 0/3 | — | 0.03 |" in page
    assert "| 0 | 200.0 | 10 (1) | — (9) | — (4) |" in page
    assert "Regenerate: `rlcv bench ipg-agents --report-only`" in "\n".join(page)


def test_report_only_round_trips_the_summary(tmp_path: Path) -> None:
    (tmp_path / "ipg_agents").mkdir()
    (tmp_path / "ipg_agents" / "summary.json").write_text(json.dumps(_summary(), indent=1))
    assert main(["bench", "ipg-agents", "--report-only", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "ipg_agents.md").read_text() == ipg_agents.render(_summary())


def test_report_only_without_summary_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ipg-agents", "--report-only", "--out", str(tmp_path)]) == 2
    assert "summary.json is missing" in capsys.readouterr().err
