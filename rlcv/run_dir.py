"""The run directory: the one module that knows its layout, for writers and readers alike.

::

    RUN_DIR/config.yaml     algo, env, steps, seed and the fully resolved config ("meta")
    RUN_DIR/command.txt     the command lines that created / resumed the run
    RUN_DIR/metrics.csv     one row per update (columns: rlcv.recorder / rlcv.logger)
    RUN_DIR/tb/             TensorBoard events, same metric names as the CSV
    RUN_DIR/checkpoints/    last.pt (every update) and step_N.pt (every checkpoint_freq env steps)
    RUN_DIR/policy.pt       final policy + observation-normaliser statistics (what `rlcv eval` loads);
                            runs made before the rename hold it as model.pt, which is still read
    RUN_DIR/model.zip       SB3 runs only: SB3's own format (``PPO.load`` opens it), with vecnormalize.pt

Readers (``rlcv eval``, ``rlcv plot``, the benches) go through :class:`RunDir` too, so a layout
change is one edit here.

Safety (issue 12). One process writes a run at a time (:mod:`rlcv.run_lock`). A new run is *staged*:
it is written in the hidden sibling ``PARENT/.NAME.staging`` and renamed to ``RUN_DIR`` right after
its first ``checkpoints/last.pt`` is saved (:meth:`RunDir.publish`), so a run that fails or is
killed before it has anything to resume never leaves a ``RUN_DIR`` behind that would block a rerun;
a leftover staging folder of a killed process is removed by the next writer (which holds the
lock, so the folder cannot be live). Staging rather than "remove on failure" because a SIGKILL
runs no clean-up code. Every file a writer replaces is written beside it and renamed (config.yaml,
checkpoints, and metrics.csv when a resume drops the rows after its checkpoint), so a kill at any
instant leaves the old or the new file whole; readers ignore an unfinished last line of metrics.csv.
"""

from __future__ import annotations

import csv
import io
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from rlcv.errors import RlcvError
from rlcv.legacy import upgrade_meta
from rlcv.run_lock import real_run_path


def default_run_dir(algo: str, env: str, root: Path = Path("runs")) -> Path:
    """``root/ALGO_ENV_N`` with N one more than the highest N taken (rl-baselines3-zoo's numbering), so
    rerunning a command without --run-dir starts a new run instead of failing; a staging folder or
    lock file of a run being started counts as taken."""
    prefix = f"{algo}_{env.replace('/', '-')}_"
    taken = [0]
    if root.is_dir():
        for entry in root.iterdir():
            name = entry.name.removeprefix(".").removesuffix(".staging").removesuffix(".lock")
            number = name.removeprefix(prefix)
            if name.startswith(prefix) and number.isdigit():
                taken.append(int(number))
    return root / f"{prefix}{max(taken) + 1}"


def new_meta(*, algo: str, env: str, steps: int, seed: int, config: dict[str, Any]) -> dict[str, Any]:
    """The content of a new run's config.yaml (key order as written)."""
    return {"algo": algo, "env": env, "steps": steps, "seed": seed, "config": config}


class RunDir:
    """One run directory. ``path`` is where its files are now: the staging folder while a new run is
    staged (:meth:`stage`), the run's own path once published."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._final: Path | None = None  # where a staged run goes once published

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and self.path == other.path

    __hash__ = None  # type: ignore[assignment]  # mutable (staging moves it): not a dict key

    def __str__(self) -> str:
        return str(self.path)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def command_log(self) -> Path:
        return self.path / "command.txt"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tb"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, name: str = "last.pt") -> Path:
        return self.checkpoints / name

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:09d}.pt"

    @property
    def policy(self) -> Path:
        """Where a finished native run writes its final policy."""
        return self.path / "policy.pt"

    @property
    def final_policy(self) -> Path | None:
        """The final policy file of a finished native run (``policy.pt``, or the old ``model.pt``)."""
        for name in ("policy.pt", "model.pt"):
            if (self.path / name).is_file():
                return self.path / name
        return None

    @property
    def sb3_algorithm(self) -> Path:
        """A finished SB3 run's saved algorithm (SB3 calls it a model and names the file model.zip)."""
        return self.path / "model.zip"

    @property
    def sb3_vecnormalize(self) -> Path:
        return self.path / "vecnormalize.pt"

    # -- creating ------------------------------------------------------------------------------
    def check_new(self) -> None:
        """Refuse to start a new run in a folder that already holds something."""
        if self.path.exists() and any(self.path.iterdir()):
            raise RlcvError(
                f"run directory '{self.path}' already exists; continue it with `rlcv train --resume "
                f"{self.path}` or choose another --run-dir."
            )

    def create(self, meta: dict[str, Any], command: list[str] | None) -> None:
        """Make the folder and write config.yaml and command.txt (call once nothing else can fail)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_meta(meta)
        self.log_command(command, append=False)

    # -- staging (see the module docstring) ----------------------------------------------------
    @property
    def staging_path(self) -> Path:
        target = real_run_path(self._final or self.path)  # beside the real folder, like the lock
        return target.parent / f".{target.name}.staging"

    @property
    def is_staged(self) -> bool:
        return self._final is not None

    def stage(self, meta: dict[str, Any], command: list[str] | None) -> None:
        """Create the run in its staging folder (the caller holds the run lock, so a folder already
        there is the remains of a killed process and is removed)."""
        staging = self.staging_path
        shutil.rmtree(staging, ignore_errors=True)
        self._final = self.path
        self.path = staging
        try:
            self.create(meta, command)
        except OSError as exc:
            self.discard()
            raise RlcvError(
                f"cannot write the run directory '{self._final or staging}' ({exc.strerror or exc}); "
                "choose a --run-dir in a writable folder with free space."
            ) from exc

    def publish(self) -> None:
        """Rename a staged run to its real path (a no-op for a run that is not staged)."""
        given = self._final
        if given is None:
            return
        final = real_run_path(given)  # a symlinked --run-dir: the run goes where the link points
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()  # an empty folder the user made for the run: rename() needs it gone
        os.rename(self.path, final)
        _fsync_dir(final.parent)
        self.path = given
        self._final = None

    def discard(self) -> None:
        """Remove a staged run that will never be published (a no-op once published)."""
        if self._final is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = self._final
            self._final = None

    def set_aside_checkpoints_after(self, step: int) -> list[Path]:
        """Move ``step_M.pt`` with M > ``step`` to ``checkpoints/superseded/`` (a resume ``--from`` an
        earlier checkpoint starts another history: its own step_M.pt must not mix with the old
        ones, and nothing is deleted). Returns the new paths."""
        moved = []
        for path in sorted(self.checkpoints.glob("step_*.pt")):
            parsed = _parse_step(path.stem.removeprefix("step_"))
            if parsed is not None and parsed > step:
                target = self.checkpoints / "superseded" / path.name
                target.parent.mkdir(exist_ok=True)
                os.replace(path, target)
                moved.append(target)
        return moved

    # -- config.yaml ---------------------------------------------------------------------------
    def is_run(self) -> bool:
        return self.config.is_file()

    def read_meta(self) -> dict[str, Any]:
        """config.yaml as a dict: algo, env, steps, seed, config (in the current spelling, rlcv.legacy)."""
        try:
            os.stat(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:  # a name too long, a symlink loop, no permission
            raise RlcvError(
                f"run directory '{str(self.path)[:80]}' cannot be read ({exc.strerror})."
            ) from None
        if not self.path.is_dir():
            raise RlcvError(
                f"run directory '{self.path}' not found; pass the folder `rlcv train` wrote (see --run-dir)."
            )
        if not self.config.is_file():
            raise RlcvError(
                f"'{self.path}' is not a run directory (no config.yaml); pass a folder made by `rlcv train`."
            )
        try:
            meta = yaml.safe_load(self.config.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise RlcvError(
                f"'{self.config}' is not valid YAML ({str(exc).splitlines()[0]}); restore it or start "
                "a new run."
            ) from exc
        except OSError as exc:
            raise RlcvError(f"cannot read '{self.config}' ({exc.strerror}).") from exc
        if not isinstance(meta, dict) or not {"algo", "env", "steps", "seed", "config"} <= set(meta):
            raise RlcvError(
                f"'{self.config}' lacks algo/env/steps/seed/config; it was not written by `rlcv train`."
            )
        kinds = {"algo": str, "env": str, "steps": int, "seed": int, "config": dict}
        for key, kind in kinds.items():
            if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
                raise RlcvError(
                    f"'{self.config}' is damaged: '{key}' should be a {kind.__name__}, got {meta[key]!r}; "
                    "restore it or start a new run."
                )
        problem = _meta_problem(meta)
        if problem:
            raise RlcvError(f"'{self.config}' is damaged: {problem}; restore it or start a new run.")
        return upgrade_meta(meta)  # an older version's spelling, read in the current one

    def check_writable(self) -> None:
        """Before a resume changes anything: every file it replaces or appends to is a regular file
        (or absent), so a write cannot fail half-way through the resume's changes."""
        for path in (self.config, self.command_log, self.metrics, self.checkpoint()):
            if path.exists() and not path.is_file():
                raise RlcvError(
                    f"'{path}' is not a regular file, so the run cannot be resumed; restore it (or remove "
                    "it, for command.txt), then resume."
                )
        for folder in (self.path, self.checkpoints):
            if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
                raise RlcvError(f"cannot write to '{folder}' (permission denied); fix it, then resume.")

    def write_meta(self, meta: dict[str, Any]) -> None:
        tmp = self.config.with_suffix(".yaml.tmp")
        with tmp.open("w") as f:
            f.write(yaml.safe_dump(meta, sort_keys=False))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.config)

    def set_total_steps(self, meta: dict[str, Any], steps: int | None) -> None:
        """Record a new --steps target in ``meta`` and config.yaml (a resume calls it only once the
        checkpoint has loaded, so a failed resume leaves config.yaml as it was)."""
        if steps is not None:
            meta["steps"] = steps
            self.write_meta(meta)

    # -- command.txt ---------------------------------------------------------------------------
    def log_command(self, command: list[str] | None, *, append: bool = True) -> None:
        args = sys.argv[1:] if command is None else command
        with self.command_log.open("a" if append else "w") as f:
            f.write(shlex.join(["rlcv", *args]) + "\n")

    # -- metrics.csv ---------------------------------------------------------------------------
    def _metrics_text(self) -> str:
        """metrics.csv up to its last newline: a line a writer has not finished (or a killed writer
        left half-written) is not a row."""
        try:
            data = self.metrics.read_bytes()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise RlcvError(f"cannot read '{self.metrics}' ({exc.strerror}).") from exc
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            raise RlcvError(f"'{self.metrics}' is not a text file; it is damaged (restore it).") from exc
        return text[: text.rfind("\n") + 1]

    def metrics_rows(self) -> list[dict[str, str]]:
        """Every complete row of metrics.csv (empty when the run has not logged yet); a row whose
        ``step`` is not an integer is an error naming the line."""
        rows = list(csv.DictReader(io.StringIO(self._metrics_text(), newline="")))
        for i, row in enumerate(rows):
            if _parse_step(row.get("step")) is None:
                raise RlcvError(
                    f"'{self.metrics}' line {i + 2} has no valid step ({row.get('step')!r}); the file is "
                    f"damaged: delete that line or restore the file."
                )
        return rows

    def metrics_columns(self) -> list[str]:
        """The header of metrics.csv (empty when the run has not logged yet)."""
        return next(csv.reader(io.StringIO(self._metrics_text(), newline="")), [])

    def last_step(self) -> int:
        rows = self.metrics_rows()
        return int(float(rows[-1]["step"])) if rows else 0

    def truncate_metrics(self, step: int, columns: tuple[str, ...]) -> None:
        """Keep the rows up to ``step`` (a resume drops what was logged after its checkpoint), never
        in place: the new file is written beside the old one, fsynced and renamed over it, so a kill
        at any instant leaves one of the two whole. An unfinished last line is dropped too."""
        if not self.metrics.exists():
            return
        rows = [r for r in self.metrics_rows() if int(float(r["step"])) <= step]
        tmp = self.metrics.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.metrics)
        _fsync_dir(self.path)

    def is_finished(self, steps: int | None = None) -> bool:
        """The final policy was saved (the last thing a run does) and metrics.csv reaches ``steps``
        (default: the steps recorded in config.yaml)."""
        if self.final_policy is None and not self.sb3_algorithm.is_file():
            return False
        if steps is None:
            if not self.config.is_file():
                return False
            steps = int(self.read_meta()["steps"])
        return self.last_step() >= steps


def _meta_problem(meta: dict[str, Any]) -> str | None:
    """What is wrong with a (hand-edited) config.yaml whose keys have the right types, or None."""
    if meta["steps"] < 1:
        return f"steps must be >= 1, got {meta['steps']}"
    if not 0 <= meta["seed"] < 2**32:
        return f"seed must be in [0, 2**32), got {meta['seed']}"
    if not meta["config"]:
        return "its config mapping is empty (a run writes every resolved key there)"
    changes = meta.get("changes", [])
    if not isinstance(changes, list) or not all(
        isinstance(c, dict) and isinstance(c.get("step"), int) and isinstance(c.get("set"), dict)
        for c in changes
    ):
        return f"'changes' should be a list of {{step: N, set: {{key: value}}}}, got {changes!r}"
    return None


def _parse_step(text: str | None) -> int | None:
    try:
        value = float(text or "")
    except ValueError:
        return None
    return int(value) if value.is_integer() and value >= 0 else None


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (the directory entry, not only the file, must reach disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
