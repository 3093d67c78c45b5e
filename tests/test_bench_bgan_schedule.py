"""`rlcv bench bgan-schedule` on hand-made pilot outputs (the committed binary page's drift test is in
tests/test_reports_regenerate.py; the cont page reads run folders that are not committed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlcv.bench import bgan_checks as bs
from rlcv.cli import main

FINAL = {
    "updates": 1500,
    "wall_seconds": 152.6,
    "c2st_accuracy": 0.9091,
    "nn1_accuracy": 0.87,
    "mmd2": 0.01384,
    "confident_coverage": 4.0,
    "confident_share": 0.3071,
    "unique_fraction": 1.0,
    "across_latent_distance": 13.481,
}


def _payload(n_steps: int, disc_batch: int | None, overrides: list[str] | None = None) -> dict:
    run = {
        "final": FINAL,
        "config": {"learning_rate": 0.001, "n_steps": n_steps, "n_samples": 20},
        "env_kwargs": None if disc_batch is None else {"disc_batch_size": disc_batch},
        "run_dir": f"runs/x{n_steps}",
        "train": {"entropy": -330.84},
    }
    return {"runs": [run], "overrides": overrides or []}


def _rows(pilot: str, payloads: dict, mode=None) -> list[str]:
    page = bs.render_schedule(pilot, "<!-- table -->\n", payloads, "cmd", mode=mode)
    return [line for line in page.splitlines() if line.startswith("| ") and not line.startswith("| schedule")]


def test_binary_row_counts_discriminator_steps() -> None:
    # 64 latents × M = 20 over the default disc_batch_size 256: 5 steps; over 128: 10
    names = bs.PILOTS["binary"].names
    payloads = {n: _payload(64, None) for n in names} | {names[2]: _payload(32, 128)}
    rows = _rows("binary", payloads)
    assert rows[0] == f"| {names[0]} | 0.001 | 64 | 5 | 1500 | 153 | 0.909 | 0.870 | 0.0138 | 4 | 0.307 |"
    assert rows[2].startswith(f"| {names[2]} | 0.001 | 32 | 5 |")


def test_cont_row_shows_the_mode() -> None:
    names = bs.PILOTS["cont"].names
    payloads = {n: _payload(64, 128, ["squash_output=true", "log_std_init=0.0"]) for n in names}
    rows = _rows("cont", payloads, mode=lambda run_dir: (0.0, 1.0, 0.9642))
    assert rows[0] == (
        f"| {names[0]} | squash_output=true log_std_init=0.0 | 1500 | 153 | 0.909 | 0.870 | 0.0138 | 4 "
        "| 0.307 | 1.000 | 13.48 | -330.8 | 0 .. 1 | 0.964 |"
    )


def _pilot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, notes: str) -> None:
    pilot = bs.Pilot(out="o", names=("A", "B"), page="page.md", notes="notes.md")
    monkeypatch.setitem(bs.PILOTS, "binary", pilot)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o").mkdir()
    for name, n_steps in (("A", 64), ("B", 32)):
        (tmp_path / "o" / f"{name}.json").write_text(json.dumps(_payload(n_steps, 128)))
    (tmp_path / "notes.md").write_text(notes)


def test_page_is_the_notes_around_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pilot(tmp_path, monkeypatch, "# Title\n\n<!-- table -->\n\nChosen: A.\n")
    assert main(["bench", "bgan-schedule", "--report-only"]) == 0
    page = (tmp_path / "page.md").read_text().splitlines()
    assert page[:2] == ["# Title", ""] and page[2].startswith("| schedule | gen lr |")
    assert page[4].startswith("| A | 0.001 | 64 | 10 |") and page[5].startswith("| B | 0.001 | 32 | 5 |")
    assert page[6:9] == ["", "Chosen: A.", ""]
    assert page[9].startswith("Regenerate: `rlcv bench bgan-schedule --pilot binary --report-only`")


def test_notes_without_the_placeholder_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _pilot(tmp_path, monkeypatch, "# Title\n")
    assert main(["bench", "bgan-schedule", "--report-only"]) == 2
    assert "<!-- table -->" in capsys.readouterr().err
    (tmp_path / "o" / "B.json").unlink()
    assert main(["bench", "bgan-schedule", "--report-only"]) == 2
    assert "B.json is missing" in capsys.readouterr().err
