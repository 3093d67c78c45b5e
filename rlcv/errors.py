"""User-facing errors.

Anything a user can cause (a bad env id, an unknown config key, a corrupt checkpoint, a diverging
loss) raises :class:`RlcvError` with one line that names the problem and the fix. The CLI prints
that line and exits non-zero; library users can catch it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RlcvError(Exception):
    """A problem the user can fix; ``str(err)`` is the one-line message shown by the CLI."""


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean: a, b?"`` for the closest candidates, or ``""`` when none is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not matches:
        lowered = name.lower()
        matches = [c for c in candidates if lowered in c.lower()][:n]
    return f" Did you mean: {', '.join(matches)}?" if matches else ""


class TrainingInterrupted(RlcvError):
    """Ctrl-C during training; the message says where the run is (the CLI exits with 130)."""
