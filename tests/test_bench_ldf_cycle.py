"""`rlcv bench ldf-cycle`: paired differences on hand-made runs, and the reading's table is the page's (the
page's drift test is in tests/test_reports_regenerate.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench.ldf import CYCLE_METRICS
from rlcv.cli import main
from rlcv.gan.rows import paired

REPO = Path(__file__).resolve().parent.parent


def _runs(offset: float, seeds: dict[str, list[int]]) -> dict[str, list[dict]]:
    """Every metric of seed s is s / 10 + offset (joint: + 2 * offset, so its differences vary)."""
    runs: dict[str, list[dict]] = {}
    for method, ss in seeds.items():
        runs[method] = [
            {
                "seed": s,
                "final": dict.fromkeys(CYCLE_METRICS, s / 10 + offset * (1 + s * (method == "joint"))),
            }
            for s in ss
        ]
    return runs


SEEDS = {"decoupled": [0, 1, 2], "joint": [0, 1, 2], "reuse": [0, 1]}


def test_paired_effects_pair_by_seed() -> None:
    with_cycle = _runs(0.5, SEEDS)
    without = _runs(0.0, {**SEEDS, "reuse": [1, 0, 7]})  # order and an unpaired seed do not matter
    decoupled = paired(with_cycle["decoupled"], without["decoupled"], "c2st_accuracy")
    assert decoupled.point == pytest.approx(0.5) and decoupled.n == 3
    assert decoupled.high - decoupled.low < 1e-12
    joint = paired(with_cycle["joint"], without["joint"], "seam_discontinuity")
    # differences 0.5, 1.0, 1.5: mean 1, sd 0.5, t(2, 0.975) = 4.303 → half-width 4.303 * 0.5 / sqrt(3)
    assert joint.point == pytest.approx(1.0) and joint.high - joint.point == pytest.approx(1.2421, abs=1e-4)
    assert paired(with_cycle["reuse"], without["reuse"], "nn1_accuracy").n == 2


def test_cells(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"results": _runs(-0.25, SEEDS)}))
    (tmp_path / "b.json").write_text(json.dumps({"results": _runs(0.0, SEEDS)}))
    argv = ["bench", "ldf-cycle", "--out", str(tmp_path), "--with", "a", "--without", "b"]
    assert main(argv) == 0
    page = (tmp_path / "ldf_cycle.md").read_text().splitlines()
    assert page[6].startswith("| decoupled | −0.250 (all pairs equal) |")
    assert page[7].startswith("| joint | −0.500 [−1.121, +0.121] |")
    assert page[-1] == "Pairs (seeds in both runs): decoupled 3, joint 3, reuse 2."


def test_cli_writes_the_page_and_names_a_missing_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ldf.json").write_text(json.dumps({"results": _runs(0.1, SEEDS)}))
    assert main(["bench", "ldf-cycle", "--report-only", "--out", str(tmp_path)]) == 2
    assert "ldf_nocycle.json is missing" in capsys.readouterr().err
    (tmp_path / "ldf_nocycle.json").write_text(json.dumps({"results": _runs(0.0, SEEDS)}))
    assert main(["bench", "ldf-cycle", "--report-only", "--out", str(tmp_path)]) == 0
    assert (
        f"Regenerate: `rlcv bench ldf-cycle --report-only --out {tmp_path}`"
        in (tmp_path / "ldf_cycle.md").read_text()
    )


def test_the_reading_copies_the_committed_page() -> None:
    page = (REPO / "results" / "ldf_cycle.md").read_text().splitlines()
    table = [line for line in page if line.startswith("|")]
    reading = (REPO / "results" / "ldf" / "reading.md").read_text().splitlines()
    start = reading.index(table[0])
    assert reading[start : start + len(table)] == table
