"""What happens after every update, for the native loop and the SB3 backend alike.

One row of ``metrics.csv`` (columns: :mod:`rlcv.logger`), a deterministic evaluation when the
evaluation cadence is crossed, ``checkpoints/last.pt`` and, when the checkpoint cadence is crossed,
``checkpoints/step_N.pt``, then the progress bar. Both backends call :meth:`Recorder.record` at the
same point of their cycle (the update on a rollout is done), so rows, evaluations and checkpoints of
an rlcv run and of an SB3 run mean the same thing.

Cadences count env steps summed over parallel envs, never calls: an event is due when the step
count crosses a multiple of its frequency during the update (``step // f > prev // f``), so a
frequency that is not a multiple of the update size still fires once per multiple.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from rlcv import checkpoint
from rlcv.logger import COMMON_METRICS, MetricsLogger
from rlcv.run_dir import RunDir


def crossed(freq: int, prev_step: int, step: int) -> bool:
    """A multiple of ``freq`` lies in (prev_step, step]; ``freq`` 0 disables the event."""
    return bool(freq) and step // freq > prev_step // freq


class Recorder:
    """Rows, evaluations, checkpoints and the progress bar of one training process."""

    def __init__(
        self,
        run: RunDir,
        metric_names: tuple[str, ...],
        *,
        total_steps: int,
        start_step: int,
        eval_freq: int,
        checkpoint_freq: int,
        progress: bool,
        desc: str,
        resume_step: int | None = None,
    ) -> None:
        """``metric_names``: the backend's own columns after :data:`COMMON_METRICS`; ``resume_step``:
        the step of the checkpoint a resumed run starts from (later rows are dropped)."""
        self.run = run
        self.eval_freq, self.checkpoint_freq = eval_freq, checkpoint_freq
        self.logger = MetricsLogger(run, (*COMMON_METRICS, *metric_names), resume_step=resume_step)
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            unit="step",
            disable=not progress,
            dynamic_ncols=True,
            desc=desc,
        )
        self.last_eval: dict[str, Any] | None = None
        self.start(start_step)

    def start(self, step: int) -> None:
        """Start the wall clock behind ``time_elapsed`` and ``fps`` (this process only)."""
        self.start_time, self.start_step = time.perf_counter(), step

    def record(
        self,
        *,
        step: int,
        prev_step: int,
        episodes: int,
        episode_return_mean: float | None,
        episode_length_mean: float | None,
        metrics: dict[str, Any],
        evaluate: Callable[[], dict[str, Any]],
        state: Callable[[], dict[str, Any]],
    ) -> dict[str, Any]:
        """Write the row of the update that took the run from ``prev_step`` to ``step``; ``evaluate``
        (a deterministic evaluation of the updated policy) and ``state`` (the checkpoint) are called
        only when needed. Returns the row."""
        elapsed = time.perf_counter() - self.start_time
        row: dict[str, Any] = {
            "step": step,
            "time_elapsed": elapsed,
            "fps": (step - self.start_step) / elapsed,
            "episodes": episodes,
            "episode_return_mean": episode_return_mean,
            "episode_length_mean": episode_length_mean,
            **metrics,
        }
        if crossed(self.eval_freq, prev_step, step):
            self.last_eval = evaluate()
            row["eval_return_mean"] = self.last_eval["mean_return"]
            row["eval_return_std"] = self.last_eval["std_return"]
        self.logger.log(row)
        saved = state()
        checkpoint.save(saved, self.run.checkpoint())
        if self.run.is_staged:  # a new run appears at its path once it can be resumed (rlcv.run_dir)
            had_tb = self.logger.suspend_tensorboard()
            self.run.publish()
            if had_tb:
                self.logger.resume_tensorboard(self.run)
        if crossed(self.checkpoint_freq, prev_step, step):
            checkpoint.save(saved, self.run.step_checkpoint(step))
        self._show(row, step - prev_step)
        return row

    def _show(self, row: dict[str, Any], advanced: int) -> None:
        self.bar.update(advanced)
        postfix = {"fps": f"{row['fps']:.0f}"}
        if row["episode_return_mean"] is not None:
            postfix["return"] = f"{row['episode_return_mean']:.1f}"
        if self.last_eval is not None:
            postfix["eval"] = f"{self.last_eval['mean_return']:.1f}"
        self.bar.set_postfix(postfix)

    def close(self) -> None:
        self.bar.close()
        self.logger.close()
