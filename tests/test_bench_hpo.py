"""`rlcv bench hpo` launches its runs through rlcv.bench.runs: one summary per (method, seed) under
OUT/per_run, so a second invocation runs nothing and writes the same results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.cli import main


@pytest.mark.expensive  # ~5 s (two agent-loop runs and the figure, twice)
def test_hpo_bench_resumes_from_its_per_run_summaries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hpo"
    args = ["bench", "hpo", "--seeds", "2", "--budget", "20", "--steps-per-action", "10", "--trials", "2"]
    args += ["--grid", "0.01", "0.1", "--methods", "grid", "hpo-ucb1", "--out", str(out)]
    assert main(args) == 0
    first = json.loads((out / "hpo.json").read_text())
    assert sorted(p.name for p in (out / "per_run").iterdir()) == [
        "grid_s0.json",
        "grid_s1.json",
        "hpo-ucb1_s0.json",
        "hpo-ucb1_s1.json",
    ]
    assert [len(first["results"][m]) for m in ("grid", "default", "hpo-ucb1")] == [2, 2, 2]
    capsys.readouterr()
    assert main(args) == 0
    assert "done (" not in capsys.readouterr().out  # nothing ran again
    assert json.loads((out / "hpo.json").read_text())["results"] == first["results"]
