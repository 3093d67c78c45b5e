"""Metrics to ``metrics.csv`` and TensorBoard under the same names.

Columns shared by every run (documented in the README):

- ``step`` — env steps so far (summed over parallel envs)
- ``time_elapsed`` — seconds since this process started training; ``fps`` — env steps per second
  in this process (both wall-clock: the only columns that differ between seeded runs)
- ``episodes`` — finished training episodes; ``episode_return_mean`` / ``episode_length_mean`` —
  over the last 100 finished training episodes (raw, unscaled rewards)
- ``eval_return_mean`` / ``eval_return_std`` — deterministic evaluation, on evaluation rows only

followed by the agent's own ``metric_names`` (e.g. PPO's ``policy_loss``, ``approx_kl``).
"""

from __future__ import annotations

import csv
import math
import os
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from rlcv.run_dir import RunDir

COMMON_METRICS = (
    "step",
    "time_elapsed",
    "fps",
    "episodes",
    "episode_return_mean",
    "episode_length_mean",
    "eval_return_mean",
    "eval_return_std",
)
WALL_CLOCK_METRICS = ("time_elapsed", "fps")


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


# Set by the test suite (tests/conftest.py): an undeclared metric is an error instead of a column
# that the CSV drops while TensorBoard keeps it.
STRICT = os.environ.get("RLCV_STRICT_METRICS") == "1"


class MetricsLogger:
    """Appends one row per update to the run's metrics.csv (flushed, so a killed run keeps its rows)
    and mirrors the numeric values to TensorBoard."""

    def __init__(
        self,
        run: RunDir,
        columns: tuple[str, ...],
        *,
        resume_step: int | None = None,
        tensorboard: bool = True,
    ) -> None:
        self.columns = columns
        self.path = run.metrics
        if resume_step is not None and self.path.exists():
            # Rows written after the checkpoint we resume from would be duplicated: drop them
            # (atomically, see RunDir.truncate_metrics), with any half-written last line.
            run.truncate_metrics(resume_step, columns)
        elif not self.path.exists():
            with self.path.open("w", newline="") as f:
                csv.writer(f).writerow(columns)
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file)
        purge = None if resume_step is None else resume_step + 1
        self.tb = SummaryWriter(str(run.tensorboard), purge_step=purge) if tensorboard else None

    def suspend_tensorboard(self) -> bool:
        """Close TensorBoard's writer before the run folder is renamed (a staged run published,
        :meth:`RunDir.publish`): the CSV stays open by descriptor, but the event writer reopens its
        file by path. Returns whether there was one to :meth:`resume_tensorboard`."""
        if self.tb is None:
            return False
        self.tb.close()
        self.tb = None
        return True

    def resume_tensorboard(self, run: RunDir) -> None:
        """A new event writer at the run's new path (a second event file in tb/, read as one run)."""
        self.tb = SummaryWriter(str(run.tensorboard))

    def log(self, row: dict[str, Any]) -> None:
        if STRICT:  # tests: a stat an agent or estimator forgot to declare must not vanish silently
            undeclared = sorted(set(row) - set(self.columns))
            if undeclared:
                raise RuntimeError(f"metrics {undeclared} are not declared in the backend's metric_names")
        self._writer.writerow([_fmt(row.get(c)) for c in self.columns])
        self._file.flush()
        if self.tb is not None:
            step = int(row["step"])
            for key, value in row.items():
                if key != "step" and isinstance(value, int | float) and not math.isnan(float(value)):
                    self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        if self.tb is not None:
            self.tb.close()
