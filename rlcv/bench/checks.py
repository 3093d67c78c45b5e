"""Argument checks of the benches, one line per bad value (issues 12, 27): a bench must refuse an
argument that would make its verdict meaningless (e.g. ``gradcheck --k -1`` "passing") before it
runs anything.

Ranges are declared with the argument, as its argparse ``type=`` (:class:`Range` and the ready-made
:data:`positive_int`, :data:`nonneg_int`, :data:`positive_float`, :data:`nonneg_float`,
:data:`prob`, :data:`seed_value`, :data:`seed_count`, or :func:`int_range` /
:func:`float_range`), and so are output paths (:func:`out_dir`, :func:`out_file`): argparse checks them
while parsing, before ``bench_run``. What needs several arguments or the registries (env ids, config
keys) is checked by the bench's ``run`` before its first write, with the helpers below."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlcv.errors import RlcvError, did_you_mean


def check_algos(algos: Iterable[str], known: Iterable[str], flag: str = "--algos") -> None:
    known = list(known)
    for algo in algos:
        if algo not in known:
            raise RlcvError(
                f"{flag}: unknown algorithm '{algo}'.{did_you_mean(algo, known)} Known: {', '.join(known)}."
            )


def check_estimator(name: str) -> None:
    from rlcv.estimators import ESTIMATORS

    if name not in ESTIMATORS:
        raise RlcvError(f"--estimator: unknown estimator '{name}'.{did_you_mean(name, list(ESTIMATORS))}")


# ---------------------------------------------------------------------------- declared ranges
SEED_LIMIT = 2**32  # numpy and Gymnasium seeds live in [0, 2**32)


@dataclass(frozen=True)
class Range:
    """An argparse ``type=``: a number (``int`` or finite ``float``) within a declared range, so a value
    out of range is refused while the command line is parsed, before the bench runs anything (one line
    ``rlcv: error: bench NAME: argument --grid: must be a finite number > 0, got '-1' ...``, exit 2).

    ``low`` / ``high`` are inclusive unless ``low_open`` / ``high_open``; ``None`` is unbounded. Integer
    ranges accept integral notation such as ``1e6``, never ``1.5``."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def __name__(self) -> str:  # argparse names a type by it
        return self.kind.__name__

    def describe(self) -> str:
        noun = "an integer" if self.kind is int else "a finite number"
        low, high = self.low, self.high
        if low is not None and high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{noun} in {left}{_num(low)}, {_num(high)}{right}"
        if low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_num(low)}"
        if high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {_num(high)}"
        return noun

    def contains(self, value: float) -> bool:
        if self.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def __call__(self, text: str) -> Any:
        value = _parse_int(text) if self.kind is int else _parse_float(text)
        if value is None or not self.contains(value):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, got {text!r}")
        return value


def _num(x: float) -> str:
    return "2**32" if x == SEED_LIMIT else f"{x:g}"


def _parse_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        pass
    value = _parse_float(text)  # "1e6" is an integer, "1.5" is not
    return int(value) if value is not None and math.isfinite(value) and value.is_integer() else None


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def int_range(low: int | None = None, high: int | None = None, *, high_open: bool = False) -> Range:
    """Integers in [low, high] (``high_open``: [low, high))."""
    return Range(int, low, high, high_open=high_open)


def float_range(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Range:
    """Finite numbers between ``low`` and ``high`` (inclusive unless the side is open)."""
    return Range(float, low, high, low_open=low_open, high_open=high_open)


positive_int = int_range(1)
"""Counts that must be at least one: seeds, steps, repeats, workers, batch sizes."""
nonneg_int = int_range(0)
positive_float = float_range(0.0, low_open=True)
"""Finite and > 0: learning rates, time limits, epochs, losses to reach."""
nonneg_float = float_range(0.0)
prob = float_range(0.0, 1.0, low_open=True, high_open=True)
"""A level or fraction strictly inside (0, 1)."""
seed_value = int_range(0, SEED_LIMIT, high_open=True)
"""One seed, in [0, 2**32)."""
seed_count = int_range(1, SEED_LIMIT)
"""A number N of seeds 0..N-1 (each a valid seed)."""


# ---------------------------------------------------------------------------- paths


def out_dir(text: str) -> str:
    """argparse ``type=`` of an output folder: an existing folder, or one that can be made below the
    nearest existing folder; not a file, not below a file, not in /proc or /sys. Nothing is created."""
    _check_writable(Path(text), text)
    return text


def out_file(text: str) -> str:
    """argparse ``type=`` of an output file: not a folder, and its folder passes :func:`out_dir`."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is a folder; give a file path")
    _check_writable(path, text, file=True)
    return text


def existing_file(text: str) -> str:
    """argparse ``type=`` of an input file that must exist."""
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"'{text}' is not a file; give an existing file")
    return text


def _check_writable(path: Path, shown: str, *, file: bool = False) -> None:
    """``path`` (``file``: its folder) is a writable folder or can be made below the nearest existing
    one (``shown``: the path the user gave)."""
    target = path.absolute()
    existing = target.parent if file else target
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        if existing == target:
            raise argparse.ArgumentTypeError(f"'{shown}' is a file; give a folder path")
        raise argparse.ArgumentTypeError(
            f"'{shown}' lies below '{existing}', which is a file; choose another path"
        )
    real = existing.resolve()
    if real.parts[1:2] in (("proc",), ("sys",)) or not os.access(real, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"'{shown}' cannot be written ('{existing}' is read-only); choose another"
        )


def require_report_input(path: Path, bench: str) -> None:
    """``--report-only`` rebuilds a page from ``path``: one error line when it is not there."""
    if not path.is_file():
        raise RlcvError(f"--report-only: {path} is missing; run `rlcv bench {bench}` without --report-only.")


def require_summaries(folder: Path, pattern: str, what: str) -> None:
    """``--report-only`` needs something to report: at least one ``pattern`` file below ``folder``."""
    if not folder.is_dir() or next(folder.rglob(pattern), None) is None:
        raise RlcvError(
            f"--report-only: no {what} found under '{folder}'; run the bench without --report-only first "
            "(or point --out at the folder that holds them)."
        )


# ---------------------------------------------------------------------------- benches' own checks


def check_online_hpo(
    env_kwargs: dict[str, Any], *, optuna: str | None = None, flags: str = "--env-kwargs"
) -> None:
    """The HPO benches (`hpo`, `hpo-budget`, `dualcutout`), before their first write: ``rlcv/OnlineHPO-v0``
    accepts ``env_kwargs`` (made from ``flags``; every run builds the env), and Optuna is installed where
    ``optuna`` (what needs it, and how to do without) says it is used."""
    from rlcv.envs.online_hpo import OnlineHPOEnv

    if optuna is not None:
        try:
            import optuna as _  # noqa: F401
        except ImportError as exc:
            raise RlcvError(f"{optuna} needs Optuna: pip install 'rlcv[hpo]'.") from exc
    try:
        OnlineHPOEnv(**env_kwargs)
    except (TypeError, ValueError) as exc:
        raise RlcvError(f"rlcv/OnlineHPO-v0 rejects these env kwargs ({exc}); check {flags}.") from exc
