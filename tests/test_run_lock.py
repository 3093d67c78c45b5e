"""rlcv.run_lock: one writer per run directory (issue 12)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlcv.errors import RlcvError
from rlcv.run_lock import RunLock, lock_path


def test_lock_is_exclusive_names_the_holder_and_cleans_up(tmp_path: Path) -> None:
    run = tmp_path / "R"
    with RunLock(run) as lock:
        assert lock.path == lock_path(run) == tmp_path / ".R.lock"
        assert lock.path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(RlcvError, match=f"in use by another rlcv process \\(pid {os.getpid()}\\)"):
            RunLock(run).acquire()
    assert not lock_path(run).exists()
    RunLock(run).acquire().release()  # free again


def test_a_dead_holders_lock_is_free(tmp_path: Path) -> None:
    """The kernel drops a flock when its process dies (here: SIGKILL), the file left behind is stale."""
    run = tmp_path / "R"
    code = (
        f"from rlcv.run_lock import RunLock; import os; RunLock({str(run)!r}).acquire(); "
        "os.kill(os.getpid(), 9)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == -9
    assert lock_path(run).exists()
    with RunLock(run) as lock:
        assert lock.path.read_text() == f"{os.getpid()}\n"


def test_unwritable_parent_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RlcvError, match="cannot create the lock file"):
        RunLock(Path("/proc/rlcv-run")).acquire()


@pytest.mark.expensive
def test_two_simultaneous_trainers_on_one_run_dir_give_exactly_one_success(tmp_path: Path) -> None:
    """Started at the same instant (a barrier file releases both), 3 rounds: one run directory
    with one seed's rows, and one loser whose only stderr line names the winner's pid."""
    for round_ in range(3):
        run = tmp_path / f"R{round_}"
        go = tmp_path / f"go{round_}"
        script = (
            "import os, sys, time\n"
            f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
            "from rlcv.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    script,
                    "train",
                    "--algo",
                    "ppo",
                    "--env",
                    "rlcv/LQR-v0",
                    "--steps",
                    "600",
                    "--seed",
                    str(seed),
                    "--set",
                    "n_steps=200",
                    "--no-progress",
                    "--run-dir",
                    str(run),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            )
            for seed in (1, 2)
        ]
        time.sleep(4.0)  # both imported rlcv and wait at the barrier
        go.touch()
        results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
        codes = sorted(r[0] for r in results)
        assert codes == [0, 2], results
        loser = next(r for r in results if r[0] == 2)
        assert loser[2].count("\n") == 1 and loser[2].startswith("rlcv: error: "), loser[2]
        assert "in use by another rlcv process (pid" in loser[2] or "already exists" in loser[2]
        with (run / "metrics.csv").open() as f:
            steps = [int(r["step"]) for r in csv.DictReader(f)]
        assert steps == [200, 400, 600]
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".R", f"R{round_}"))) == [
            f"R{round_}"
        ]


def test_every_spelling_of_one_directory_is_one_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27: the lock keys on the real directory. A symlink alias of the run (or of a parent),
    ``./``, a trailing slash and relative vs absolute paths all meet the same lock."""
    real = tmp_path / "R"
    real.mkdir()
    (tmp_path / "A").symlink_to(real)
    (tmp_path / "P").symlink_to(tmp_path)
    monkeypatch.chdir(tmp_path)
    spellings = ["R", "./R", "R/", str(real), "A", str(tmp_path / "A"), "P/R", "P/A", "sub/../R"]
    (tmp_path / "sub").mkdir()
    assert {lock_path(Path(s)) for s in spellings} == {tmp_path / ".R.lock"}
    with RunLock(real):
        for alias in spellings:
            with pytest.raises(RlcvError, match="in use by another rlcv process"):
                RunLock(Path(alias)).acquire()


def test_resume_through_a_symlink_alias_is_refused_while_the_run_trains(tmp_path: Path) -> None:
    """The data-loss case of issue 27: `--resume A` (A → R) while another process trains R."""
    from rlcv.cli import main

    run = tmp_path / "R"
    args = ["--algo", "ppo", "--env", "rlcv/LQR-v0", "--set", "n_steps=200", "--no-progress"]
    assert main(["train", *args, "--steps", "400", "--run-dir", str(run)]) == 0
    (tmp_path / "A").symlink_to(run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with RunLock(run):  # stands for the trainer of R
        assert main(["train", "--resume", str(tmp_path / "A"), "--steps", "600", "--no-progress"]) == 2
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_a_new_run_through_a_dangling_symlink_lands_at_its_target(tmp_path: Path) -> None:
    from rlcv.cli import main

    (tmp_path / "A").symlink_to(tmp_path / "R")
    args = ["--algo", "ppo", "--env", "rlcv/LQR-v0", "--set", "n_steps=200", "--no-progress"]
    assert main(["train", *args, "--steps", "200", "--run-dir", str(tmp_path / "A")]) == 0
    assert (tmp_path / "A").is_symlink() and (tmp_path / "R" / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A", "R"]  # no staging or lock left


def test_a_full_disk_while_checkpointing_is_one_line_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 27: torch reports ENOSPC as a RuntimeError; it was an internal error and left last.pt.tmp."""
    import torch

    from rlcv.cli import main

    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint: the run is published, the first one is kept
            f.write(b"partial")
            raise RuntimeError(
                "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file"
            )
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full_disk)
    run = tmp_path / "R"
    args = [
        "--algo",
        "ppo",
        "--env",
        "rlcv/LQR-v0",
        "--steps",
        "600",
        "--set",
        "n_steps=200",
        "--no-progress",
    ]
    assert main(["train", *args, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write to the run directory" in err and "--resume" in err, err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]  # no last.pt.tmp
    assert not lock_path(run).exists()


def test_a_full_disk_while_writing_the_lock_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def enospc(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", enospc)
    with pytest.raises(RlcvError, match=r"cannot write the lock file .* \(No space left on device\)"):
        RunLock(tmp_path / "R").acquire()
    assert list(tmp_path.iterdir()) == []
