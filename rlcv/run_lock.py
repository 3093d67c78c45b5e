"""One writer per run directory: an exclusive OS file lock held for the writer's whole lifetime.

The lock is ``fcntl.flock`` on a hidden sibling file, ``PARENT/.NAME.lock`` of the *real* directory
(symlinks resolved, so an alias of a run cannot take a second lock on it; a sibling, not a file
inside the run, because a new run's folder does not exist until its first checkpoint, see
:mod:`rlcv.run_dir`). The kernel releases a flock when its process exits in any way (``kill -9``
included), so a lock file left behind by a dead process is simply free again: stale locks need no
clean-up logic and no timeouts. The holder writes its pid into the file, so the loser's one-line
error names it. Readers (``rlcv eval``, ``rlcv plot``, the benches) never take the lock; every file
a writer replaces is replaced atomically (temp file + rename), and readers ignore an unfinished
last line of ``metrics.csv``.

Race between releasing and deleting the file: the holder unlinks the file while still holding the
lock; a process that opened the old file before the unlink may then lock that orphaned inode. So
after locking, :func:`acquire` checks that its descriptor still is the file at the path (same
inode) and retries otherwise.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rlcv.errors import RlcvError


def real_run_path(run_path: Path) -> Path:
    """The directory a run path really names: symlinks (of the run or of a parent), ``./``, ``..``, a
    trailing slash and relative vs absolute spellings all resolve to one path, so two spellings of one
    directory share one lock and one staging folder. Non-strict: a run that does not exist yet
    resolves as far as its parents exist (a dangling symlink resolves to its target)."""
    return Path(os.path.realpath(run_path))


def lock_path(run_path: Path) -> Path:
    real = real_run_path(run_path)
    return real.parent / f".{real.name}.lock"


class RunLock:
    """The exclusive writer lock of one run directory (see the module docstring)."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = Path(run_path)
        self.path = lock_path(self.run_path)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RlcvError` naming the holder's pid; never blocks."""
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RlcvError(
                    f"cannot create the lock file '{self.path}' ({exc.strerror}); choose a --run-dir in a "
                    "writable folder."
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RlcvError(
                    f"run directory '{self.run_path}' is in use by another rlcv process (pid {holder}); "
                    f"wait for it to finish, stop it, or choose another --run-dir."
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder unlinked the file between our open and our lock
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError as exc:  # e.g. a full disk: give the lock back, leave no file
                self.path.unlink(missing_ok=True)
                os.close(fd)
                raise RlcvError(
                    f"cannot write the lock file '{self.path}' ({exc.strerror}); free space, then rerun."
                ) from exc
            self._fd = fd
            return self
        raise RlcvError(f"could not lock '{self.path}' (it keeps being replaced); try again.")

    def release(self) -> None:
        """Delete the lock file, then unlock (see the module docstring for why in this order)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
