"""Issue 12: a run killed (SIGKILL) at any instant loses nothing up to its last checkpoint.

Each round starts `rlcv train` (or `--resume`) in a subprocess that dies by SIGKILL either after a
random delay or inside a chosen write: half-way through a metrics.csv row, after a checkpoint's
temp file is written but before its rename, before a resume's metrics.csv rename, before a new
run's staging folder is renamed into place, or before config.yaml's rename. The faults are injected
by the test's wrapper script (monkeypatching), never by rlcv itself. After every kill the next
round resumes (or restarts, when the kill came before the first checkpoint); at the end the run
must be exactly a clean run's rows: steps strictly increasing with no gaps, last.pt loadable,
`rlcv eval` working.
"""

from __future__ import annotations

import csv
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlcv import checkpoint

N_STEPS, TOTAL = 50, 1500

WRAPPER = r"""
import os, signal, sys

fault, nth = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}


def due():
    calls["n"] += 1
    return calls["n"] == nth


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if fault == "metrics_mid":
    from rlcv import logger

    original_log = logger.MetricsLogger.log

    def log(self, row):
        if due():
            text = ",".join(logger._fmt(row.get(c)) for c in self.columns)
            self._file.write(text[: len(text) // 2])
            self._file.flush()
            die()
        original_log(self, row)

    logger.MetricsLogger.log = log
elif fault == "checkpoint_tmp":
    from rlcv import checkpoint

    original_replace = checkpoint.os.replace

    def replace(src, dst):
        if due():
            die()
        original_replace(src, dst)

    checkpoint.os.replace = replace
elif fault in ("truncate", "meta"):
    from rlcv import run_dir

    original = run_dir.os.replace
    suffix = ".csv.tmp" if fault == "truncate" else ".yaml.tmp"

    def replace(src, dst):
        if str(src).endswith(suffix) and due():
            die()
        original(src, dst)

    run_dir.os.replace = replace
elif fault == "publish":
    from rlcv import run_dir

    original_rename = run_dir.os.rename

    def rename(src, dst):
        if due():
            die()
        original_rename(src, dst)

    run_dir.os.rename = rename

from rlcv.cli import main

sys.exit(main(sys.argv[3:]))
"""

FAULTS = ["metrics_mid", "checkpoint_tmp", "truncate", "meta", "publish"]


def _command(run: Path) -> list[str]:
    if (run / "config.yaml").is_file():
        return ["train", "--resume", str(run), "--no-progress"]
    return [
        "train", "--algo", "ppo", "--env", "rlcv/LQR-v0", "--steps", str(TOTAL), "--seed", "4",
        "--set", f"n_steps={N_STEPS}", "batch_size=25", "n_epochs=1", "checkpoint_freq=250",
        "--no-progress", "--run-dir", str(run),
    ]  # fmt: skip


def _steps(run: Path) -> list[int]:
    with (run / "metrics.csv").open(newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


@pytest.mark.expensive
def test_sigkill_at_random_instants_then_resume_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(12)
    run = tmp_path / "R"
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER)
    kills = 0
    kinds: list[str] = []
    for _ in range(40):
        if kills >= 12 and set(kinds) >= {"time", *FAULTS}:
            break
        kind = rng.choice(["time", "time", *FAULTS])
        if kind == "truncate" and not (run / "config.yaml").is_file():
            kind = "publish"  # only a resume truncates metrics.csv
        nth = rng.randint(1, 8) if kind in ("metrics_mid", "checkpoint_tmp") else 1
        proc = subprocess.Popen(
            [sys.executable, str(script), kind if kind != "time" else "none", str(nth), *_command(run)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kind == "time":
            time.sleep(rng.uniform(2.5, 6.0))  # imports take ~2 s; then training writes all the time
            proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=300)
        err = proc.stderr.read()  # type: ignore[union-attr]
        if code == -signal.SIGKILL:
            kills += 1
            kinds.append(kind)
        else:  # the fault's point was never reached (e.g. the run finished first)
            assert code == 0, err
            assert "Traceback" not in err
        if (run / "policy.pt").is_file():
            if kills >= 12:
                break
            # The run finished: start again from scratch to keep killing.
            shutil.rmtree(run)
        # Whatever the kill left, what is there is readable and consistent.
        if (run / "metrics.csv").is_file():
            steps = _steps(run)
            assert steps == sorted(set(steps)), steps
    assert kills >= 10 and len(set(kinds)) >= 4, kinds  # random instants and every kind of write
    # Finish the run without faults.
    done = subprocess.run(
        [sys.executable, "-m", "rlcv.cli", *_command(run)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert _steps(run) == list(range(N_STEPS, TOTAL + 1, N_STEPS))
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert state["step"] == TOTAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R", "wrapper.py"]  # no staging/lock left
    ev = subprocess.run(
        [sys.executable, "-m", "rlcv.cli", "eval", str(run), "--episodes", "2", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ev.returncode == 0 and '"mean_return"' in ev.stdout, ev.stderr


@pytest.mark.expensive  # two training subprocesses: ~15 s on a busy machine
@pytest.mark.parametrize("when", ["before_publish", "training"])
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path, when: str) -> None:
    """Issue 27: SIGTERM (a scheduler's stop) runs Ctrl-C's clean-up: exit 143, one line naming the run
    to resume (or saying nothing was kept), the lock released, no staging folder left."""
    run = tmp_path / "R"
    go = tmp_path / "go"
    # The wrapper waits at a barrier inside the chosen phase, so the signal lands there every time.
    script = (
        "import os, sys, time\n"
        "from rlcv import run_dir\n"
        f"hook = run_dir.RunDir.{'stage' if when == 'before_publish' else 'publish'}\n"
        "def wait(self, *a, **k):\n"
        "    out = hook(self, *a, **k)\n"
        f"    open({str(go)!r}, 'w').close()\n"
        "    time.sleep(60)\n"
        "    return out\n"
        f"run_dir.RunDir.{'stage' if when == 'before_publish' else 'publish'} = wait\n"
        "from rlcv.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "train", "--algo", "ppo", "--env", "rlcv/LQR-v0", "--steps", "400",
         "--set", "n_steps=200", "--no-progress", "--run-dir", str(run)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert code == 143, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "go")
    if when == "before_publish":
        assert "nothing was kept" in err and leftovers == [], (err, leftovers)
    else:
        assert f"--resume {run}" in err and leftovers == ["R"], (err, leftovers)
