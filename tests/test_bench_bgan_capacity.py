"""`rlcv bench bgan-capacity` on hand-made numbers: the linear cells' masses and the page (the
committed page's drift test is in tests/test_reports_regenerate.py; distilling needs minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlcv.bench import bgan_checks as cap
from rlcv.cli import main
from rlcv.gan.distil import linear_cells


def test_linear_cells_match_the_weights() -> None:
    weights = np.array([0.5, 0.3, 0.15, 0.05])
    a, b, error = linear_cells(weights, seed=0)
    assert a.shape == (4, 32) and b.shape == (4,) and error < 0.01


def _inputs(root: Path) -> None:
    finals = {s: dict.fromkeys(cap.KEYS, 0.5 + 0.01 * s) for s in cap.SEEDS}
    bench = {
        "references": {"rows": {"mixture": [{"seed": s, "final": finals[s]} for s in cap.SEEDS]}},
        "runs": [{"algo": "bgan", "seed": s, "final": dict.fromkeys(cap.KEYS, 0.9)} for s in cap.SEEDS],
    }
    (root / "bgan.json").write_text(json.dumps(bench))
    (root / "bgan_capacity").mkdir()
    for variant, (_, seeds, checkpoints) in cap.VARIANTS.items():
        curve = [{"kl_nats_per_image": 1.0, **dict.fromkeys(cap.KEYS, 0.6 + 0.01 * s)} for s in seeds]
        runs = [
            {
                "seed": s,
                "cell_mass_error": 0.002 * (variant != "quantile"),
                "curve": [curve[i]] * len(checkpoints),
            }
            for i, s in enumerate(seeds)
        ]
        payload = {"k": cap.K, "checkpoints": list(checkpoints), "runs": runs}
        (root / "bgan_capacity" / f"{variant}.json").write_text(json.dumps(payload))


def test_report_only_page(tmp_path: Path) -> None:
    _inputs(tmp_path)
    assert main(["bench", "bgan-capacity", "--report-only", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "bgan_capacity.md").read_text()
    assert "## `quantile`: seeds 0, 1, 2, 3, 4\n" in page
    assert "## `linear`: seeds 0, 1, 2, 3, 4 (largest cell-mass error 0.0020)" in page
    assert (
        "| 2400 | 1.000 [1.000, 1.000] | 0.620 [0.600, 0.640] |" in page
    )  # mean 0.62, sd 0.0158, t(4) = 2.776
    assert "| distilled − mixture | +0.100 [+0.100, +0.100] * |" in page
    assert "| BGAN (2400 updates) − distilled | +0.280 [+0.260, +0.300] * |" in page
    assert "| 12000 | 1.000 | 0.600 | " in page  # linear-long: one seed, no interval, no paired table
    assert page.count("Paired differences") == 2


def test_report_only_refuses_other_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _inputs(tmp_path)
    path = tmp_path / "bgan_capacity" / "linear.json"
    path.write_text(path.read_text().replace('"checkpoints": [300,', '"checkpoints": [100,'))
    assert main(["bench", "bgan-capacity", "--report-only", "--out", str(tmp_path)]) == 2
    assert "linear.json holds other seeds / checkpoints" in capsys.readouterr().err
