"""How a plug-in declares its settings: each dataclass field carries its meaning and whether a resume
may change it, beside its type and default, so no central table needs editing.

    @dataclass(kw_only=True)
    class MySettings:
        eta: float = setting(1.0, "control-variate scale", resumable=True)

``rlcv config`` prints the meaning; ``rlcv train --resume --set`` accepts the resumable keys of the
run's config class and of its estimator's settings class (:func:`resumable_keys`). A field without
``help`` falls back to its trailing ``# comment``. This module is a leaf of the import graph: the
estimators and agents import it, it imports nothing of rlcv but the error type.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rlcv.errors import RlcvError


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    resumable: bool = False,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with its meaning and resumability (``factory`` for mutable defaults).

    ``resumable``: the key steers the optimisation from the next update on and is read from the
    config at use time, so `--resume --set` may change it; anything that shapes the checkpointed
    state (network shapes, rollout length, normalisation, the estimator and its dynamics model) must not be.
    """
    metadata = {"help": help, "resumable": resumable}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check(ok: bool, message: str) -> None:
    """Raise the one-line config error every dataclass config uses for an invalid value."""
    if not ok:
        raise RlcvError(f"invalid config: {message}.")


def resumable_keys(*classes: type | None) -> tuple[str, ...]:
    """The keys of these dataclasses that a resume may change, in field order."""
    keys: list[str] = []
    for cls in classes:
        if cls is None or not dataclasses.is_dataclass(cls):
            continue
        keys += [
            f.name for f in dataclasses.fields(cls) if f.metadata.get("resumable") and f.name not in keys
        ]
    return tuple(keys)
