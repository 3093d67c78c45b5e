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
"""

from __future__ import annotations

import csv
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rlcv.errors import RlcvError


def default_run_dir(algo: str, env: str, seed: int) -> Path:
    return Path("runs") / f"{algo}_{env.replace('/', '-')}_s{seed}"


def new_meta(*, algo: str, env: str, steps: int, seed: int, config: dict[str, Any]) -> dict[str, Any]:
    """The content of a new run's config.yaml (key order as written)."""
    return {"algo": algo, "env": env, "steps": steps, "seed": seed, "config": config}


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

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
    def sb3_model(self) -> Path:
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

    # -- config.yaml ---------------------------------------------------------------------------
    def is_run(self) -> bool:
        return self.config.is_file()

    def read_meta(self) -> dict[str, Any]:
        """config.yaml as a dict: algo, env, steps, seed, config."""
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
        except yaml.YAMLError as exc:
            raise RlcvError(
                f"'{self.config}' is not valid YAML ({str(exc).splitlines()[0]}); restore it or start "
                "a new run."
            ) from exc
        if not isinstance(meta, dict) or not {"algo", "env", "steps", "seed", "config"} <= set(meta):
            raise RlcvError(
                f"'{self.config}' lacks algo/env/steps/seed/config; it was not written by `rlcv train`."
            )
        return meta

    def write_meta(self, meta: dict[str, Any]) -> None:
        tmp = self.config.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump(meta, sort_keys=False))
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
    def metrics_rows(self) -> list[dict[str, str]]:
        """Every complete row of metrics.csv (empty when the run has not logged yet)."""
        if not self.metrics.is_file():
            return []
        with self.metrics.open(newline="") as f:
            return list(csv.DictReader(f))

    def metrics_columns(self) -> list[str]:
        """The header of metrics.csv (empty when the run has not logged yet)."""
        if not self.metrics.is_file():
            return []
        with self.metrics.open(newline="") as f:
            return next(csv.reader(f), [])

    def last_step(self) -> int:
        rows = self.metrics_rows()
        return int(float(rows[-1]["step"])) if rows else 0

    def is_finished(self, steps: int | None = None) -> bool:
        """The final policy was saved (the last thing a run does) and metrics.csv reaches ``steps``
        (default: the steps recorded in config.yaml)."""
        if self.final_policy is None and not self.sb3_model.is_file():
            return False
        if steps is None:
            if not self.config.is_file():
                return False
            steps = int(self.read_meta()["steps"])
        return self.last_step() >= steps
