"""A finished training run's summary: the small JSON that :mod:`rlcv.bench.runs` writes as soon as a
run ends — its evaluation curve, its last metrics row, its wall time, its train arguments and resolved
config — meant to be committed under ``results/`` while the (large) run folders are not; and a run's
metrics read from its folder or, once the folder is gone, from that summary. Reports built from
summaries alone can then be regenerated, and a sweep resumed, from what is committed.

The resolved config is recorded because comparing train arguments alone misses a preset edit (``rlcv
train --algo mbmf-ppo ...`` made with a 5-member ensemble has the same arguments after the preset moves
to 2): :func:`rlcv.bench.runs.triage` compares it (:func:`differs`) with what the arguments resolve to now
(:func:`planned_config`). Summaries from before this record are trusted on their arguments alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlcv import learning_curves
from rlcv.errors import RlcvError
from rlcv.files import write_text
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
        "config": run_config(run_dir),
    }


def write(path: Path, summary: dict[str, Any]) -> None:
    """Write ``summary`` at ``path`` atomically: an interrupted bench never leaves half a summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(summary, indent=1) + "\n")


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

    @property
    def final(self) -> float:
        """The return of the last evaluation."""
        return float(self.curve.values[-1])

    def steps_to(self, target: float) -> int | None:
        """The first evaluation step whose return reaches ``target`` (None: never)."""
        return learning_curves.first_reaching(self.curve, target)


def finished(path: Path | None) -> Finished | None:
    """The summary at ``path`` as a :class:`Finished` run; None while there is none."""
    if path is None or not path.is_file():
        return None
    summary = read_summary(path)
    last = {k: float(v) for k, v in (summary.get("final") or {}).items() if isinstance(v, int | float)}
    wall = summary.get("wall_seconds")
    return Finished(learning_curves.from_summary(summary), last, None if wall is None else float(wall))


def finished_by_seed(paths: dict[int, Path | None]) -> dict[int, Finished]:
    """The finished runs among ``paths`` (seed → its summary), by seed in the order given."""
    found = {seed: finished(path) for seed, path in paths.items()}
    return {seed: run for seed, run in found.items() if run is not None}


# -- the resolved config a run is made with ---------------------------------------------------------
def normalised(config: dict[str, Any]) -> dict[str, Any]:
    """JSON's view of a config (tuples as lists), so a YAML round trip compares equal."""
    value: dict[str, Any] = json.loads(json.dumps(config))
    return value


def planned_config(train_args: list[str]) -> dict[str, Any] | None:
    """What ``rlcv train ARGS`` would resolve its config to now; None if ARGS do not start a new run
    (a resume) or do not resolve (the run itself will then say why)."""
    import argparse

    from rlcv.cli_args import add_train_arguments, parse_env_kwargs, train_overrides
    from rlcv.launch import resolve

    if train_args[:1] != ["train"]:
        return None
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    add_train_arguments(parser)
    try:
        args, _ = parser.parse_known_args(train_args[1:])
    except (argparse.ArgumentError, SystemExit):  # e.g. --seed x: the run itself will say so
        return None
    if args.resume or not (args.algo and args.env):
        return None
    try:
        overrides = train_overrides(args)
        if args.env_kwargs is not None:
            overrides["env_kwargs"] = parse_env_kwargs(args.env_kwargs)
        _, config = resolve(args.algo, args.env, args.config_file, overrides)
    except RlcvError:
        return None
    return normalised(dataclasses.asdict(config))


def differs(made: dict[str, Any], planned: dict[str, Any] | None) -> bool:
    """Whether a key both configs hold has another value (nested settings compared key by key). Keys
    only one side holds are ignored: a key added since, with a default that keeps old runs' behaviour,
    must not void every finished run. ``planned`` None (cannot resolve now): not a difference."""
    if planned is None:
        return False
    for key in made.keys() & planned.keys():
        old, new = made[key], planned[key]
        if isinstance(old, dict) and isinstance(new, dict):
            if differs(old, new):
                return True
        elif old != new:
            return True
    return False


def run_config(run_dir: Path) -> dict[str, Any] | None:
    """The resolved config a finished run recorded in its config.yaml (None if unreadable)."""
    try:
        config = RunDir(run_dir).read_meta().get("config")
    except (RlcvError, OSError):
        return None
    return normalised(config) if isinstance(config, dict) else None
