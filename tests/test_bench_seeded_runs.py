"""`rlcv bench seeded-runs`: the comparison on hand-made metrics.csv files, and the commands a recording
runs (faked: recording trains twelve short runs)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from rlcv.bench import seeded_runs
from rlcv.cli import main


def _write(root: Path, run: str, text: str) -> None:
    (root / run).mkdir(parents=True, exist_ok=True)
    (root / run / "metrics.csv").write_text(text)


def test_compare_ignores_wall_clock_and_reports_the_first_difference(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "ppo", "step,loss,fps,time_elapsed\n1,0.5,100,1.0\n2,0.4,90,2.0\n")
    _write(b, "ppo", "step,loss,fps,time_elapsed\n1,0.5,120,1.5\n2,0.4,80,2.2\n")
    _write(a, "trpo", "step,loss\n1,0.5\n2,0.4\n")
    _write(b, "trpo", "step,loss\n1,0.5\n2,0.3\n")
    _write(a, "gone", "step\n1\n")
    assert seeded_runs.compare(a, b) == [
        "gone         1 rows: DIFFERENT",
        "ppo          2 rows: identical",
        "trpo         2 rows: DIFFERENT",
        "   first difference: {'loss': ('0.4', '0.3')}",
    ]


def test_cli_compare_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "ppo", "step,fps\n1,3\n")
    _write(b, "ppo", "step,fps\n1,4\n")
    assert main(["bench", "seeded-runs", "--compare", str(a), str(b)]) == 0
    _write(b, "ppo", "step,fps\n2,4\n")
    assert main(["bench", "seeded-runs", "--compare", str(a), str(b)]) == 1
    assert "DIFFERENT" in capsys.readouterr().out
    assert main(["bench", "seeded-runs"]) == 2


def test_record_runs_each_run_with_the_given_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class FakePopen:
        """Stands in for the runner's ``rlcv train`` process: records the call, writes a finished run."""

        returncode = 0

        def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], **_: object) -> None:
            calls.append((cmd, cwd, env["PYTHONPATH"]))
            run_dir = Path(cmd[cmd.index("--run-dir") + 1])
            run_dir.mkdir(parents=True)
            (run_dir / "metrics.csv").write_text("step\n1\n")

        def __enter__(self) -> FakePopen:
            return self

        def __exit__(self, *_: object) -> None:
            return None

        def communicate(self) -> tuple[str, str]:
            return "", ""

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    code = tmp_path / "checkout"
    code.mkdir()
    assert main(["bench", "seeded-runs", "--out", str(tmp_path / "out"), "--code", str(code)]) == 0
    assert [Path(c[0][c[0].index("--run-dir") + 1]).name for c in calls] == list(seeded_runs.RUNS)
    cmd, cwd, pythonpath = calls[-1]
    assert cwd == code and pythonpath == str(code.resolve())
    assert cmd[3:9] == ["train", "--seed", "3", "--no-progress", "--num-threads", "1"]
    hpo = next(c for c, _, _ in calls if "hpo-pbt" in c)
    assert hpo[-2] == "--run-dir"  # the runner names the run folder last
    assert hpo[-2 - len(shlex.split(seeded_runs.RUNS["hpo-pbt"])) : -2] == [
        "--algo",
        "hpo-pbt",
        "--env",
        "rlcv/OnlineHPO-v0",
        "--env-kwargs",
        "{budget: 200}",
        "--steps",
        "40",
    ]
