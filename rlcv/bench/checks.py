"""Argument checks of the benches, one line per bad value (issue 12): a bench must refuse an
argument that would make its verdict meaningless (e.g. ``gradcheck --k -1`` "passing") before it
runs anything."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from rlcv.errors import RlcvError, did_you_mean


def at_least(flag: str, value: int, low: int) -> None:
    if value < low:
        raise RlcvError(f"{flag} must be >= {low}, got {value}.")


def check_gradcheck_args(args: argparse.Namespace) -> None:
    """`rlcv bench gradcheck`: ``--k`` >= 0, ``--alpha`` in (0, 1), ``--estimates`` and ``--episodes``
    >= 2 (a variance and a z-test need two samples), ``--eta`` finite, ``--seed`` in [0, 2**32)."""
    at_least("--k", args.k, 0)
    if not 0.0 < args.alpha < 1.0:
        raise RlcvError(f"--alpha must be in (0, 1) (a test level), got {args.alpha}.")
    at_least("--estimates", args.estimates, 2)
    at_least("--episodes", args.episodes, 2)
    if getattr(args, "eta", None) is not None and not abs(args.eta) < float("inf"):
        raise RlcvError(f"--eta must be a finite number, got {args.eta}.")
    check_seed(getattr(args, "seed", 0))


def check_seed(seed: int, flag: str = "--seed") -> None:
    if not 0 <= seed < 2**32:
        raise RlcvError(f"{flag} must be in [0, 2**32), got {seed}.")


def check_algos(algos: Iterable[str], known: Iterable[str]) -> None:
    known = list(known)
    for algo in algos:
        if algo not in known:
            raise RlcvError(
                f"--algos: unknown algorithm '{algo}'.{did_you_mean(algo, known)} Known: {', '.join(known)}."
            )


def check_speed_args(args: argparse.Namespace, known_algos: Iterable[str]) -> None:
    """`rlcv bench speed`: ``--steps`` and ``--repeats`` >= 1, ``--algos`` known."""
    at_least("--steps", args.steps, 1)
    at_least("--repeats", args.repeats, 1)
    if not args.algos:
        raise RlcvError("--algos needs at least one algorithm.")
    check_algos(args.algos, known_algos)
