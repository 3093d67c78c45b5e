"""`rlcv bench mbmf-speed` on hand-made fps (the committed pages' drift tests are in
tests/test_reports_regenerate.py; measuring trains HalfCheetah runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench import mbmf_cost
from rlcv.cli import main
from rlcv.stats import median_ratio_bootstrap

FPS = {"ppo": [400.0, 300.0, 500.0], "mbmf-ppo": [100.0, 150.0, 120.0]}


def test_summarise_takes_medians_and_their_ratio() -> None:
    record = mbmf_cost.speed_record("E-v0", 64, FPS, "k=1")
    assert record["repeats"] == 3 and record["mbmf_set"] == "k=1"
    assert record["fps_median"] == {"ppo": 400.0, "mbmf-ppo": 120.0}
    assert record["ratio_mbmf_over_ppo"] == pytest.approx(0.3)
    assert "mbmf_set" not in mbmf_cost.speed_record("E-v0", 64, FPS, None)  # as the first records


def test_page() -> None:
    page = mbmf_cost.speed_page(mbmf_cost.speed_record("E-v0", 64, FPS, "a=1 b=2"), "x/s.json")
    assert "| `ppo` | 400, 300, 500 | 400 |" in page and "| `mbmf-ppo` | 100, 150, 120 | 120 |" in page
    iv = median_ratio_bootstrap(FPS["mbmf-ppo"], FPS["ppo"], paired=True)  # repeats paired by seed
    assert 0 < iv.low <= 0.30 <= iv.high
    assert f"MBMF-PPO / PPO (ratio of medians): 0.30× [{iv.low:.2f}, {iv.high:.2f}] (95 % CI: paired" in page
    single = mbmf_cost.speed_record("E-v0", 64, {"ppo": [400], "mbmf-ppo": [100]}, None)
    one = mbmf_cost.speed_page(single, "s.json")
    assert "(ratio of medians): 0.25× (no interval: 1 pair)." in one
    assert "mbmf-ppo with `--set a=1 b=2`" in page
    assert "`--steps 64 --repeats 3 --mbmf-set a=1 b=2` it trains" in page


def test_report_only_keeps_the_json_and_writes_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    assert main(["bench", "mbmf-speed", "--json", str(path), "--report-only"]) == 2
    assert "s.json is missing" in capsys.readouterr().err
    text = json.dumps(mbmf_cost.speed_record("E-v0", 64, FPS, ""), indent=1)
    path.write_text(text)
    assert main(["bench", "mbmf-speed", "--json", str(path), "--report-only"]) == 0
    assert path.read_text() == text
    assert (tmp_path / "s.md").read_text().startswith("# MBMF-PPO vs rlcv PPO throughput on E-v0")
