"""Time budgets of the equilibrium solvers: wall-clock or CPU, one object that every loop checks.

A solve's budget is either wall-clock seconds (``time.monotonic``: what a user waits) or CPU seconds of
this process (``time.process_time``: what the solve costs, the same on an idle or a busy machine; the
fresh-instance benchmark caps each game by it). :class:`Deadline` holds the clock with the end time, so
the search loops and the best-response calls need not know which budget they run under.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.monotonic, "cpu": time.process_time}


class SolverTimeout(Exception):
    """A solver call ran out of its time budget (callers turn it into ``"solved": false``)."""


@dataclass(frozen=True)
class Deadline:
    """The end of a budget on one clock (``CLOCKS``); ``at`` is a reading of that clock."""

    at: float
    clock: str = "wall"

    @classmethod
    def after(cls, seconds: float, clock: str = "wall") -> Deadline:
        if clock not in CLOCKS:
            raise ValueError(f"unknown clock '{clock}'; choose one of {', '.join(CLOCKS)}")
        return cls(CLOCKS[clock]() + seconds, clock)

    def now(self) -> float:
        return CLOCKS[self.clock]()

    def left(self) -> float:
        """Seconds left on this clock (negative once passed)."""
        return self.at - self.now()

    def check(self) -> None:
        """Raise :class:`SolverTimeout` once the budget is spent."""
        if self.now() > self.at:
            raise SolverTimeout


def as_deadline(deadline: Deadline | float | None) -> Deadline | None:
    """A :class:`Deadline` from the older form too: a bare float is a ``time.monotonic()`` reading."""
    if deadline is None or isinstance(deadline, Deadline):
        return deadline
    return Deadline(float(deadline), "wall")
