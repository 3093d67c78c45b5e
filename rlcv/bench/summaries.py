"""A finished training run's summary: the small JSON that :mod:`rlcv.bench.runs` writes as soon as a
run ends — its evaluation curve, its last metrics row, its wall time, its train arguments and resolved
config — meant to be committed under ``results/`` while the (large) run folders are not; and a run's
metrics read from its folder or, once the folder is gone, from that summary. Reports built from
summaries alone can then be regenerated, and a sweep resumed, from what is committed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcv import learning_curves
from rlcv.bench import run_config
from rlcv.errors import RlcvError
from rlcv.plotting import SeedCurve
from rlcv.run_dir import RunDir


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return None if value is None or math.isnan(value) else value


def read_run(run_dir: Path) -> dict[str, Any]:
    """What a summary holds of a run folder's metrics.csv: ``eval`` (steps, eval return mean/std) and
    ``final``, its last row (numeric columns)."""
    rows = list(RunDir(run_dir).metrics_rows())
    steps, means, stds = [], [], []
    for row in rows:
        mean = _number(row.get("eval_return_mean"))
        if mean is not None:
            steps.append(int(float(row["step"])))
            means.append(mean)
            stds.append(_number(row.get("eval_return_std")))
    final = {k: _number(v) for k, v in rows[-1].items()} if rows else {}
    return {"eval": {"steps": steps, "return_mean": means, "return_std": stds}, "final": final}


def summarize(
    run_dir: Path, name: str, train_args: list[str], steps: int, seconds: float | None
) -> dict[str, Any]:
    """The summary of a finished run: eval curve and last metrics row (:func:`read_run`), wall time (the
    process's ``seconds``; else the run's own ``time_elapsed``), train arguments, config."""
    record = read_run(run_dir)
    return {
        "name": name,
        "train_args": train_args,
        "steps": steps,
        "wall_seconds": seconds if seconds is not None else record["final"].get("time_elapsed"),
        **record,
        "config": run_config.run_config(run_dir),
    }


def finished_record(run_dir: Path, steps: int, summary: Path) -> dict[str, Any]:
    """A finished run's ``eval`` and ``final``: from its folder while that holds the finished run, else
    from its committed summary (the folders are not committed)."""
    return read_run(run_dir) if RunDir(run_dir).is_finished(steps) else read_summary(summary)


def write(path: Path, summary: dict[str, Any]) -> None:
    """Write ``summary`` at ``path`` atomically: an interrupted bench never leaves half a summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n")
    tmp.replace(path)


def read_summary(path: Path) -> dict[str, Any]:
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RlcvError(f"run summary '{path}' is unreadable ({exc}); delete it to redo that run.") from exc
    if not isinstance(summary, dict) or not {"train_args", "eval", "final"} <= set(summary):
        raise RlcvError(
            f"'{path}' is not a run summary (no train_args/eval/final); delete it to redo that run."
        )
    return summary


@dataclass(frozen=True)
class Finished:
    """A finished run as its summary holds it: the eval curve, the numbers of the last metrics row and
    the wall seconds (None where the summary has none)."""

    curve: SeedCurve
    last: dict[str, float] = field(default_factory=dict)
    wall_seconds: float | None = None
    seed: int | None = None  # where the caller knows it

    @property
    def final(self) -> float:
        """The return of the last evaluation."""
        return float(self.curve.values[-1])

    def steps_to(self, target: float) -> int | None:
        """The first evaluation step whose return reaches ``target`` (None: never)."""
        return learning_curves.first_reaching(self.curve, target)


def finished(path: Path | None, seed: int | None = None) -> Finished | None:
    """The summary at ``path`` as a :class:`Finished` run; None while there is none."""
    if path is None or not path.is_file():
        return None
    summary = read_summary(path)
    last = {k: float(v) for k, v in (summary.get("final") or {}).items() if isinstance(v, int | float)}
    wall = summary.get("wall_seconds")
    curve = learning_curves.from_summary(summary)
    return Finished(curve, last, None if wall is None else float(wall), seed)
