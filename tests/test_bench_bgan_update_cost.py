"""`rlcv bench bgan-update-cost` on hand-made timings and bench runs (the committed page's drift test is in
tests/test_reports_regenerate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench.bgan import starred
from rlcv.cli import main
from rlcv.gan.rows import bracket, cost_ratios, equal_compute

COST = {"bgan": [0.1, 0.2, 0.1], "bgan-reinforce": [0.1, 0.2, 0.1], "bgan-gumbel": [0.125, 0.25, 0.125]}


def _bench() -> dict:
    """Three seeds; BGAN ends at 1000 updates; the others are scored at 400 and 800 (and 1000)."""

    def run(algo: str, seed: int, c2st: dict[int, float]) -> dict:
        curve = [{"updates": u, "c2st_accuracy": v, "nn1_accuracy": v / 2} for u, v in c2st.items()]
        return {"algo": algo, "seed": seed, "curve": curve, "final": {"updates": 1000, **curve[-1]}}

    runs = []
    for seed in range(3):
        runs.append(run("bgan", seed, {400: 0.9, 800: 0.8, 1000: 0.7 + 0.01 * seed}))
        runs.append(run("bgan-reinforce", seed, {400: 0.95, 800: 0.9, 1000: 0.9}))
        runs.append(run("bgan-gumbel", seed, {400: 0.9, 800: 0.7, 1000: 0.6 + 0.02 * seed}))
    return {"runs": runs}


def test_ratios_and_bracket() -> None:
    assert cost_ratios(COST, "bgan-gumbel") == [1.25, 1.25, 1.25]
    assert bracket([400, 800, 1000], 800.0) == [800]
    assert bracket([400, 800, 1000], 900.0) == [800, 1000]
    assert bracket([400, 800], 300.0) == [400]  # below the grid: its first checkpoint


def test_equal_compute_rows() -> None:
    rows = equal_compute(COST, _bench())
    # reinforce costs BGAN's: 1000 updates, checkpoint 1000; BGAN − reinforce = 0.71 − 0.9 on average
    assert (rows[0]["algo"], rows[0]["ratio"], rows[0]["budget"], rows[0]["at"]) == (
        "bgan-reinforce",
        1,
        1000,
        1000,
    )
    assert starred(rows[0]["diffs"][0]) == "-0.190 [-0.215, -0.165] *"
    # gumbel costs 1.25×: BGAN's 1000 updates buy it 800, a checkpoint; BGAN 0.71 − gumbel 0.7
    assert (rows[1]["algo"], rows[1]["ratio"], rows[1]["budget"], rows[1]["at"]) == (
        "bgan-gumbel",
        1.25,
        800,
        800,
    )
    assert starred(rows[1]["diffs"][0]) == "+0.010 [-0.015, +0.035]"
    assert len(rows) == 2


def test_report_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bgan.json").write_text(json.dumps(_bench()))
    assert main(["bench", "bgan-update-cost", "--report-only", "--out", str(tmp_path)]) == 2
    assert "bgan_update_cost.json is missing" in capsys.readouterr().err
    (tmp_path / "bgan_update_cost.json").write_text(json.dumps({"updates": 50, "seconds_per_update": COST}))
    assert main(["bench", "bgan-update-cost", "--report-only", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "bgan_update_cost.md").read_text()
    assert "train 50 updates each" in page and "repeated 3 times" in page
    assert "| `bgan-gumbel` | 125.0, 250.0, 125.0 | 125.0 | 1.25, 1.25, 1.25 |" in page
    assert "## Equal compute (BGAN's 1000 updates; paired over the bench's 3 seeds" in page
    assert "| `bgan-gumbel` | 1.25 | 800 | 800 | +0.010 [-0.015, +0.035] |" in page
